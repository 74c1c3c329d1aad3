"""Emulation of the Salesforce Pub/Sub API (gRPC ``eventbus.v1.PubSub``) over the sandbox's CDC log.

Start it next to the Salesforce sandbox's HTTP app with :func:`start_pubsub_server`.
"""
