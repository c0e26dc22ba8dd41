/// A fixed-capacity map that forgets its least recently used entry to make room: every operation O(1).
///
/// Entries live in one array, linked in recency order by indexes (most recent at `head`); a dictionary maps keys
/// to slots. When full, inserting a new key reuses the slot of the least recently used one, so the cache never
/// holds more than `capacity` entries and never allocates past it. Not thread-safe: callers hold a lock.
struct LRUCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var nodes: [Node] = []
    private var slots: [Key: Int] = [:]
    /// Most recently used.
    private var head: Int?
    /// Least recently used: the next to go.
    private var tail: Int?

    /// `capacity` below 1 is taken as 1.
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { slots.count }

    /// The value of `key`, which becomes the most recently used.
    mutating func value(forKey key: Key) -> Value? {
        guard let slot = slots[key] else { return nil }
        moveToFront(slot)
        return nodes[slot].value
    }

    /// Stores `value` as the most recently used; evicts the least recently used entry when full. Returns the evicted
    /// key, if any.
    @discardableResult
    mutating func setValue(_ value: Value, forKey key: Key) -> Key? {
        if let slot = slots[key] {
            nodes[slot].value = value
            moveToFront(slot)
            return nil
        }
        if nodes.count < capacity {
            nodes.append(Node(key: key, value: value, newer: nil, older: nil))
            let slot = nodes.count - 1
            slots[key] = slot
            linkAtFront(slot)
            return nil
        }
        // Full: the least recently used slot takes the new entry.
        guard let slot = tail else { return nil }  // unreachable: capacity >= 1 and the array is full
        let evicted = nodes[slot].key
        unlink(slot)
        slots[evicted] = nil
        nodes[slot] = Node(key: key, value: value, newer: nil, older: nil)
        slots[key] = slot
        linkAtFront(slot)
        return evicted
    }

    /// Keys from most to least recently used (for tests and diagnostics; O(n)).
    var keysByRecency: [Key] {
        var keys: [Key] = []
        var cursor = head
        while let slot = cursor {
            keys.append(nodes[slot].key)
            cursor = nodes[slot].older
        }
        return keys
    }

    private mutating func moveToFront(_ slot: Int) {
        guard head != slot else { return }
        unlink(slot)
        linkAtFront(slot)
    }

    private mutating func linkAtFront(_ slot: Int) {
        nodes[slot].newer = nil
        nodes[slot].older = head
        if let head { nodes[head].newer = slot }
        head = slot
        if tail == nil { tail = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = nodes[slot].newer
        let older = nodes[slot].older
        if let newer { nodes[newer].older = older } else { head = older }
        if let older { nodes[older].newer = newer } else { tail = newer }
        nodes[slot].newer = nil
        nodes[slot].older = nil
    }
}
