import Testing

/// Hostile and broken clients against a real `copslink-server` process, one test per class of issue 10, each in
/// its own file. Every test starts its own server (so that one attack's memory does not count against the next),
/// runs an honest client beside the attack, bounds the server's memory growth and checks what the attacker got
/// (`AttackServer.withAttack`). Serialized: the memory bounds and the timeouts assume the machine is not also running
/// another attack.
@Suite("Adversarial clients", .serialized)
struct AdversarialTests {}
