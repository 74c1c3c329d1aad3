"""Generated gRPC/protobuf code for the Salesforce Pub/Sub API (``eventbus.v1``); do not edit.

Made by grpcio-tools from the vendored ``pubsub_api.proto`` (CC0, from forcedotcom/pub-sub-api).
Regenerate with ``python tests/sandbox/pubsub/test_generated.py --write``; a test checks the
committed files match. The Salesforce sandbox carries an identical copy of its own, because the
product and the sandbox never import each other.
"""
