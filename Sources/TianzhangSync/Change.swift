import TianzhangDomain

/// A replica's identity: `<role>:<name>`, e.g. `hub:371312`, `node:371312001`, `patrol:01JD…`.
/// The role prefix is checked against the credential that enrolled the replica.
public struct ReplicaID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable { case hub, node, patrol }

    public let rawValue: String
    public let kind: Kind

    /// - Throws: `ValidationError` (`invalid_identifier`) unless the text is `hub:…`, `node:…` or `patrol:…`.
    public init(_ rawValue: String) throws(ValidationError) {
        let parts = rawValue.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), !parts[1].isEmpty,
            rawValue.utf8.count <= 64, parts[1].utf8.allSatisfy({ RecordIDCharset.allowed($0) })
        else {
            throw ValidationError(
                .invalidIdentifier, "Replica id \"\(rawValue)\" must read hub:NAME, node:NAME or patrol:NAME (letters, digits, - _ .).",
                field: "origin")
        }
        self.rawValue = rawValue
        self.kind = kind
    }

    public init(kind: Kind, name: String) {
        // Programmer-built ids; names come from division codes or ULIDs.
        self = try! ReplicaID("\(kind.rawValue):\(name)")
    }

    /// The authority of the writer: the hub writes for the county, a node for a township office.
    public var role: ActorRole {
        switch kind {
        case .hub: .county
        case .node: .township
        case .patrol: .patrol
        }
    }

    public var description: String { rawValue }
    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { self = try ReplicaID(text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

enum RecordIDCharset {
    static func allowed(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E: true
        default: false
        }
    }
}

/// The idempotency key of a change: its origin replica and that origin's sequence number (1, 2, 3 …).
/// Wire form: `<origin>/<seq>`, e.g. `patrol:01JD8X…/17`.
public struct ChangeID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var origin: ReplicaID
    public var seq: UInt64

    public init(origin: ReplicaID, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }

    public static func < (lhs: ChangeID, rhs: ChangeID) -> Bool { (lhs.origin, lhs.seq) < (rhs.origin, rhs.seq) }
    public var description: String { "\(origin.rawValue)/\(seq)" }

    public init?(_ text: String) {
        guard let slash = text.lastIndex(of: "/"), let seq: UInt64 = PlainDecimal.parse(text[text.index(after: slash)...]), seq > 0,
            let origin = try? ReplicaID(String(text[..<slash]))
        else { return nil }
        self.init(origin: origin, seq: seq)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ChangeID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not a change id (<origin>/<seq>).")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The kinds of record that sync. Unknown kinds (from a newer protocol version) are refused per change
/// with `unsupported_record_type`; see Protocol/SPEC.md §Versions.
public enum RecordType: String, Codable, Sendable, CaseIterable, Comparable {
    case parcel
    case enforcementCase = "case"
    case timelineEntry = "timeline"
    case checkIn = "checkin"
    case verificationTask = "task"
    case attachment
    case fieldChief = "person"
    case division
    /// End-to-end receipts, written by the hub only: what the county decided for an origin's changes.
    case receipt
    /// A correction request against hub-owned parcel data, made below the hub.
    case correction
    /// A patrol credential as the county issued it (replica, jurisdiction, SHA-256 of the secret, revoked),
    /// written by the hub only, so the township node serving the patrol can authenticate it offline.
    case enrolment

    public static func < (lhs: RecordType, rhs: RecordType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A record's identity: its type and id.
public struct RecordKey: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var type: RecordType
    public var id: String

    public init(_ type: RecordType, _ id: String) {
        self.type = type
        self.id = id
    }

    public static func < (lhs: RecordKey, rhs: RecordKey) -> Bool { (lhs.type.rawValue, lhs.id) < (rhs.type.rawValue, rhs.id) }
    public var description: String { "\(type.rawValue)/\(id)" }
}

/// What a change does to one field.
public enum FieldOperation: Hashable, Sendable {
    /// Sets the field's value (a register write).
    case set(JSONValue)
    /// Adds elements to a grow-only set field (e.g. a case's assignees).
    case add([JSONValue])
}

extension FieldOperation: Codable {
    private enum Keys: String, CodingKey { case set, add }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        if container.contains(.set) {
            self = .set(try container.decode(JSONValue.self, forKey: .set))
        } else if container.contains(.add) {
            self = .add(try container.decode([JSONValue].self, forKey: .add))
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "A field operation is {\"set\": value} or {\"add\": [values]}."))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .set(let value): try container.encode(value, forKey: .set)
        case .add(let values): try container.encode(values, forKey: .add)
        }
    }
}

/// One change to one record: the unit of sync, applied at most once everywhere (keyed by `id`).
public struct Change: Hashable, Sendable {
    public var id: ChangeID
    /// The record type as sent. Kept as text so that a type from a newer version survives a round trip.
    public var recordTypeName: String
    public var recordID: String
    /// The most specific division the record belongs to (a village, else a township); drives pull scope.
    public var scope: DivisionCode
    public var hlc: HLC
    /// Person id of the author (a field chief, a clerk, a dispatcher).
    public var author: String
    /// The writes of the touched fields this change's writer had seen (the heads it builds on).
    /// A write listed here is superseded by this change; empty means the writer saw nothing: a creation.
    public var base: [ChangeID]
    public var fields: [String: FieldOperation]
    /// Top-level members this version does not know, kept and relayed unchanged.
    public var extensions: [String: JSONValue]
    /// The origin's Ed25519 signature over the change's canonical form without it, base64 (SPEC §2.7).
    public var signature: String?

    public init(
        id: ChangeID, recordType: RecordType, recordID: String, scope: DivisionCode, hlc: HLC, author: String,
        base: [ChangeID] = [], fields: [String: FieldOperation], extensions: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.recordTypeName = recordType.rawValue
        self.recordID = recordID
        self.scope = scope
        self.hlc = hlc
        self.author = author
        self.base = base
        self.fields = fields
        self.extensions = extensions
        self.signature = nil
    }

    public var origin: ReplicaID { id.origin }
    public var recordType: RecordType? { RecordType(rawValue: recordTypeName) }
    public var key: RecordKey? { recordType.map { RecordKey($0, recordID) } }
}

extension Change {
    /// The tree `encode(to:)` gives, built directly: every stored, signed and sent change is written
    /// through it (`JSONTreeTests` checks the bytes against `JSONEncoder`).
    var treeNode: JSONTree.Node {
        var members: [String: JSONTree.Node] = [
            "origin": .string(id.origin.rawValue), "seq": .uint(id.seq), "type": .string(recordTypeName), "record": .string(recordID),
            "scope": .string(scope.rawValue), "hlc": .string(hlc.description), "author": .string(author),
        ]
        if !base.isEmpty { members["base"] = .array(base.sorted().map { .string($0.description) }) }
        var ops: [String: JSONTree.Node] = [:]
        for (field, operation) in fields {
            switch operation {
            case .set(let value): ops[field] = .object(["set": .value(value)])
            case .add(let values): ops[field] = .object(["add": .value(.array(values))])
            }
        }
        members["ops"] = .object(ops)
        if let signature { members["sig"] = .string(signature) }
        for (key, value) in extensions where !Change.knownKeys.contains(key) { members[key] = .value(value) }
        return .object(members)
    }
}

extension Change: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let knownKeys: Set<String> = ["origin", "seq", "type", "record", "scope", "hlc", "author", "base", "ops", "sig"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let origin = try c.decode(ReplicaID.self, forKey: Key("origin"))
        let seq = try c.decode(UInt64.self, forKey: Key("seq"))
        guard seq > 0 else {
            throw DecodingError.dataCorruptedError(forKey: Key("seq"), in: c, debugDescription: "seq starts at 1.")
        }
        id = ChangeID(origin: origin, seq: seq)
        recordTypeName = try c.decode(String.self, forKey: Key("type"))
        recordID = try c.decode(String.self, forKey: Key("record"))
        guard (try? RecordID(recordID)) != nil else {
            throw DecodingError.dataCorruptedError(forKey: Key("record"), in: c, debugDescription: "\"\(recordID)\" is not a record id (1–64 of A–Z a–z 0–9 - _ . :).")
        }
        scope = try c.decode(DivisionCode.self, forKey: Key("scope"))
        hlc = try c.decode(HLC.self, forKey: Key("hlc"))
        author = try c.decode(String.self, forKey: Key("author"))
        // In change-id order, as it is encoded (and signed): the merge keeps it with each write, so two
        // receivers of the same change in different orders hold the same state.
        base = (try c.decodeIfPresent([ChangeID].self, forKey: Key("base")) ?? []).sorted()
        fields = try c.decode([String: FieldOperation].self, forKey: Key("ops"))
        signature = try c.decodeIfPresent(String.self, forKey: Key("sig"))
        var extra: [String: JSONValue] = [:]
        for key in c.allKeys where !Change.knownKeys.contains(key.stringValue) {
            extra[key.stringValue] = try c.decode(JSONValue.self, forKey: key)
        }
        extensions = extra
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(id.origin, forKey: Key("origin"))
        try c.encode(id.seq, forKey: Key("seq"))
        try c.encode(recordTypeName, forKey: Key("type"))
        try c.encode(recordID, forKey: Key("record"))
        try c.encode(scope, forKey: Key("scope"))
        try c.encode(hlc, forKey: Key("hlc"))
        try c.encode(author, forKey: Key("author"))
        if !base.isEmpty { try c.encode(base.sorted(), forKey: Key("base")) }
        try c.encode(fields, forKey: Key("ops"))
        if let signature { try c.encode(signature, forKey: Key("sig")) }
        for (key, value) in extensions where !Change.knownKeys.contains(key) {
            try c.encode(value, forKey: Key(key))
        }
    }
}
