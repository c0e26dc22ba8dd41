import CopsLinkCore
public import CopsLinkMessages

/// Reference data shipped with the server.
public enum ReferenceData {
    /// Test categories and their default durations. No public list exists; these are the common ones.
    public static let testCategories: [TestCategory] = [
        TestCategory(id: "installation", description: "Installation / new account", defaultDurationMinutes: 240),
        TestCategory(id: "service", description: "Service / repair", defaultDurationMinutes: 120),
        TestCategory(id: "customer-test", description: "Customer test", defaultDurationMinutes: 60),
        TestCategory(id: "construction", description: "Construction / remodel", defaultDurationMinutes: 1440),
        TestCategory(id: "fire-inspection", description: "Fire inspection", defaultDurationMinutes: 240),
        TestCategory(id: "other", description: "Other", defaultDurationMinutes: 120)
    ]

    /// Ademco Contact ID event codes and their descriptions.
    public static let contactIDEvents: [String: String] = [
        "100": "Medical", "101": "Personal emergency", "110": "Fire", "111": "Smoke", "113": "Water flow", "114": "Heat",
        "115": "Pull station", "120": "Panic", "121": "Duress", "122": "Silent panic", "123": "Audible panic",
        "130": "Burglary", "131": "Perimeter", "132": "Interior", "133": "24-hour (safe)", "134": "Entry/exit",
        "137": "Tamper", "140": "General alarm", "147": "Sensor supervision failure", "150": "24-hour non-burglary",
        "151": "Gas detected", "154": "Water leakage", "158": "High temp", "159": "Low temp", "162": "Carbon monoxide",
        "200": "Fire supervisory", "301": "AC loss", "302": "Low system battery", "305": "System reset",
        "350": "Communication trouble", "354": "Failure to communicate", "373": "Fire trouble", "380": "Sensor trouble",
        "381": "RF supervision loss", "383": "Sensor tamper", "384": "RF low battery", "401": "Open/close by user",
        "403": "Automatic open/close", "406": "Cancel", "407": "Remote arm/disarm", "441": "Armed stay", "570": "Zone bypass",
        "601": "Manual test", "602": "Periodic test", "607": "Walk test", "611": "Point tested OK", "612": "Point not tested"
    ]

    /// Whether the event's CCC field names a user rather than a zone (open/close and remote arming events).
    public static func eventNamesUser(_ eventCode: String) -> Bool { eventCode.hasPrefix("4") }
}
