"""The TBA nonce store forgets expired nonces cheaply and still refuses replays within the window."""

from __future__ import annotations

from ledgerbridge_sandbox.netsuite.auth import TBAVerifier
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig


def test_expired_nonces_are_pruned_in_expiry_order_and_live_ones_kept() -> None:
    verifier = TBAVerifier(NetSuiteSandboxConfig())
    window = verifier.config.timestamp_window_s
    for i in range(50_000):  # one request per "second"
        key = ("token", f"nonce{i}", str(i))
        verifier._nonces[key] = i + 2 * window
        verifier._expiries.append((i + 2 * window, key))
    now = 40_000.0
    verifier._prune(now)
    assert all(expiry >= now for expiry in verifier._nonces.values())
    assert len(verifier._nonces) == 50_000 - int(now - 2 * window)
    assert ("token", "nonce49999", "49999") in verifier._nonces  # still refused as a replay
