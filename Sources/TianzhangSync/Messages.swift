import TianzhangDomain

/// Protocol versions. A receiver answers in the highest version both sides list in `hello`.
public enum ProtocolVersion {
    public static let current = 1
    public static let supported: [Int] = [1]
}

/// Limits every v1 receiver enforces (Protocol/SPEC.md §Limits).
public struct ProtocolLimits: Hashable, Sendable, Codable {
    public var batchChangesMax: Int
    public var batchBytesMax: Int
    public var pageChangesMax: Int
    /// Positions in one polygon ring, in all rings of a polygon, and rings in a polygon (`geometry_too_large`).
    public var ringVerticesMax: Int
    public var polygonVerticesMax: Int
    public var polygonRingsMax: Int
    /// Field operations and unknown top-level members in one change (`change_too_large`).
    public var changeOpsMax: Int
    public var changeExtensionsMax: Int

    public init(batchChangesMax: Int = 500, batchBytesMax: Int = 4 * 1024 * 1024, pageChangesMax: Int = 1000) {
        self.batchChangesMax = batchChangesMax
        self.batchBytesMax = batchBytesMax
        self.pageChangesMax = pageChangesMax
        ringVerticesMax = Admission.geometryLimits.ringVerticesMax
        polygonVerticesMax = Admission.geometryLimits.polygonVerticesMax
        polygonRingsMax = Admission.geometryLimits.ringsMax
        changeOpsMax = Admission.opsMax
        changeExtensionsMax = Admission.extensionsMax
    }

    /// A hello from a receiver that announces only the first three limits still decodes (the others
    /// take the v1 defaults).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            batchChangesMax: try c.decode(Int.self, forKey: .batchChangesMax), batchBytesMax: try c.decode(Int.self, forKey: .batchBytesMax),
            pageChangesMax: try c.decode(Int.self, forKey: .pageChangesMax))
        ringVerticesMax = try c.decodeIfPresent(Int.self, forKey: .ringVerticesMax) ?? ringVerticesMax
        polygonVerticesMax = try c.decodeIfPresent(Int.self, forKey: .polygonVerticesMax) ?? polygonVerticesMax
        polygonRingsMax = try c.decodeIfPresent(Int.self, forKey: .polygonRingsMax) ?? polygonRingsMax
        changeOpsMax = try c.decodeIfPresent(Int.self, forKey: .changeOpsMax) ?? changeOpsMax
        changeExtensionsMax = try c.decodeIfPresent(Int.self, forKey: .changeExtensionsMax) ?? changeExtensionsMax
    }
}

/// `POST /v1/hello`: the client lists what it speaks; the server picks.
public struct HelloRequest: Hashable, Sendable, Codable {
    public var protocolVersions: [Int]
    public var replica: ReplicaID
    public var recordTypes: [String]
    /// Optional (SPEC §7.1, §7.2): the caller's wall clock when it sent this, its store's incarnation,
    /// the highest seq it gave its own changes, its checkpoint in the server's log, and the other
    /// origins whose changes it relays (the server answers what it holds of each).
    public var localTime: Int64?
    public var incarnation: String?
    public var originSeq: UInt64?
    public var checkpoint: UInt64?
    public var relayedOrigins: [ReplicaID]?
    /// The lowest seq of the caller's own changes not yet confirmed by the server (SPEC §7.2).
    public var pendingFrom: UInt64?
    /// The highest seq of the server's own changes the caller holds (its last server's), so a server
    /// restored from an earlier copy never reuses one of its own seqs (SPEC §7.2).
    public var serverOriginSeq: UInt64?
    /// Seqs of the caller's own changes this server took but the county has not confirmed (`forwarded`),
    /// the lowest 1,000: the server answers those it no longer holds (`missingSeqs`, SPEC §7.2 rule 3).
    public var forwardedSeqs: [UInt64]?

    public init(protocolVersions: [Int] = ProtocolVersion.supported, replica: ReplicaID, recordTypes: [String] = RecordType.allCases.map(\.rawValue)) {
        self.protocolVersions = protocolVersions
        self.replica = replica
        self.recordTypes = recordTypes
    }
}

public struct HelloResponse: Hashable, Sendable, Codable {
    public var protocolVersion: Int
    public var server: ReplicaID
    public var serverTime: Int64
    public var limits: ProtocolLimits
    /// The record types both sides know: a client holds back changes of other types.
    public var recordTypes: [String]
    public var jurisdiction: Jurisdiction
    /// Optional (SPEC §7.2): the server store's incarnation, the highest seq of the caller's origin it
    /// holds, the same for each of the caller's `relayedOrigins` (origin → seq), and its log head.
    public var incarnation: String?
    public var heldSeq: UInt64?
    public var heldRelayedSeqs: [String: UInt64]?
    public var logHead: UInt64?
    /// When the server holds changes of the caller's origin from `pendingFrom` on: the digest of each
    /// (seq → hex SHA-256 of its canonical JSON, at most 1,000), so the caller can tell its own change
    /// from a different one with the same id (its store was restored, SPEC §7.2).
    public var heldDigests: [String: String]?
    /// Which of the caller's `forwardedSeqs` this server does not hold (its store was restored from an
    /// earlier copy, SPEC §7.2 rule 3): the caller sends them again.
    public var missingSeqs: [UInt64]?

    public init(protocolVersion: Int, server: ReplicaID, serverTime: Int64, limits: ProtocolLimits, recordTypes: [String], jurisdiction: Jurisdiction) {
        self.protocolVersion = protocolVersion
        self.server = server
        self.serverTime = serverTime
        self.limits = limits
        self.recordTypes = recordTypes
        self.jurisdiction = jurisdiction
    }
}

/// `POST /v1/push`: a batch of changes, in the sender's log order.
public struct PushRequest: Hashable, Sendable, Codable {
    public var protocolVersion: Int
    public var sender: ReplicaID
    public var changes: [Change]
    /// Elements of the request's `changes` whose id (`origin`, `seq`) could not be read (SPEC §4.1): each
    /// is answered `rejected` with `invalid_identifier` in its place, and the others are received. Set
    /// only by decoding; `changes` holds the rest, in request order.
    public var unreadable: [UnreadableChange] = []

    /// A change of a push whose id is malformed: where it stood in the request and what to answer.
    public struct UnreadableChange: Hashable, Sendable {
        /// Its position among all the elements of the request's `changes`.
        public var index: Int
        /// The id as sent, `<origin>/<seq>` (each member's JSON text when it is not a string).
        public var sentID: String
        public var rejection: Rejection
    }

    enum CodingKeys: String, CodingKey { case protocolVersion, sender, changes }

    public init(protocolVersion: Int = ProtocolVersion.current, sender: ReplicaID, changes: [Change]) {
        self.protocolVersion = protocolVersion
        self.sender = sender
        self.changes = changes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        protocolVersion = try container.decode(Int.self, forKey: .protocolVersion)
        sender = try container.decode(ReplicaID.self, forKey: .sender)
        var elements = try container.nestedUnkeyedContainer(forKey: .changes)
        changes = []
        changes.reserveCapacity(elements.count ?? 0)
        while !elements.isAtEnd {
            let index = elements.currentIndex
            switch try elements.decode(PushElement.self) {
            case .change(let change): changes.append(change)
            case .unreadable(let sentID, let rejection): unreadable.append(UnreadableChange(index: index, sentID: sentID, rejection: rejection))
            }
        }
    }

    /// The answers for the whole request, in request order: `received` (the answers for `changes`, in
    /// their order) with the `unreadable` ones in their places.
    public func interleaving(_ received: [ChangeResult]) -> [ChangeResult] {
        guard !unreadable.isEmpty else { return received }
        var results: [ChangeResult] = [], next = received.makeIterator()
        var pending = unreadable.sorted { $0.index < $1.index }[...]
        for index in 0..<(received.count + unreadable.count) {
            if let first = pending.first, first.index == index {
                pending = pending.dropFirst()
                results.append(ChangeResult(unreadable: first.sentID, rejection: first.rejection))
            } else if let result = next.next() {
                results.append(result)
            }
        }
        return results
    }
}

/// One element of a push's `changes`: a change, or one whose id cannot be read. Only the id is looked at
/// before the change is decoded; any other defect fails the request as before (`malformed_json`, with
/// the element's path).
enum PushElement: Decodable {
    case change(Change)
    case unreadable(sentID: String, Rejection)

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let originKey = Key(stringValue: "origin"), seqKey = Key(stringValue: "seq")
        if let members = try? decoder.container(keyedBy: Key.self), members.contains(originKey), members.contains(seqKey),
            case .string(let origin)? = try? members.decode(JSONValue.self, forKey: originKey),
            let sent = try? members.decode(JSONValue.self, forKey: seqKey) {
            let seq = try? members.decode(UInt64.self, forKey: seqKey)
            let sentID = origin + "/" + (seq.map(String.init) ?? sent.canonicalText)
            if (try? ReplicaID(origin)) == nil {
                self = .unreadable(sentID: sentID, Rejection(.invalidIdentifier, "The change's origin \"\(origin)\" is not a replica id (hub:NAME, node:NAME or patrol:NAME); its id cannot be read.", field: "origin"))
                return
            }
            if seq == nil || seq == 0 {
                self = .unreadable(sentID: sentID, Rejection(.invalidIdentifier, "The change's seq \(sent.canonicalText) is not a whole number from 1 to 2^64 − 1; its id cannot be read.", field: "seq"))
                return
            }
        }
        self = .change(try Change(from: decoder))
    }
}

/// The receiver's answer for one change.
public struct ChangeResult: Hashable, Sendable, Codable {
    public enum Outcome: String, Hashable, Sendable, Codable {
        /// Merged without conflict; `seq` is the receiver's log sequence.
        case accepted
        /// Merged, and a conflict was raised or is still open on a field it touched (`conflicts`).
        case merged
        /// Already applied before (a retry): the first outcome stands; nothing was applied twice.
        case duplicate
        /// Refused: `rejection` says why. The writer keeps the change to amend it.
        case rejected
    }

    public var id: ChangeID
    public var outcome: Outcome
    public var seq: UInt64?
    public var conflicts: [Conflict]?
    public var rejection: Rejection?

    /// Set only on the answer to a change whose id could not be read (SPEC §4.1, `invalid_identifier`): the
    /// id as sent, which is what the wire's `id` carries; `id` is then `ChangeID.unreadable`.
    public var sentID: String?

    public init(id: ChangeID, outcome: Outcome, seq: UInt64? = nil, conflicts: [Conflict]? = nil, rejection: Rejection? = nil) {
        self.id = id
        self.outcome = outcome
        self.seq = seq
        self.conflicts = conflicts
        self.rejection = rejection
    }

    /// The refusal of a change whose id could not be read, naming it as it was sent.
    public init(unreadable sentID: String, rejection: Rejection) {
        self.init(id: .unreadable, outcome: .rejected, rejection: rejection)
        self.sentID = sentID
    }

    enum CodingKeys: String, CodingKey { case id, outcome, seq, conflicts, rejection }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .id)
        outcome = try container.decode(Outcome.self, forKey: .outcome)
        if let id = ChangeID(text) {
            self.id = id
        } else {
            // Only a refusal may name an id that cannot be read (the receiver's echo of what was sent).
            guard outcome == .rejected else {
                throw DecodingError.dataCorruptedError(forKey: .id, in: container, debugDescription: "\"\(text)\" is not a change id (<origin>/<seq>).")
            }
            (self.id, sentID) = (.unreadable, text)
        }
        seq = try container.decodeIfPresent(UInt64.self, forKey: .seq)
        conflicts = try container.decodeIfPresent([Conflict].self, forKey: .conflicts)
        rejection = try container.decodeIfPresent(Rejection.self, forKey: .rejection)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sentID ?? id.description, forKey: .id)
        try container.encode(outcome, forKey: .outcome)
        try container.encodeIfPresent(seq, forKey: .seq)
        try container.encodeIfPresent(conflicts, forKey: .conflicts)
        try container.encodeIfPresent(rejection, forKey: .rejection)
    }
}

extension ChangeID {
    /// Stands in for the id of a change whose id could not be read (`ChangeResult.sentID` says what was
    /// sent). Seq 0 is never a change's: no replica can send it, so it matches no change.
    public static let unreadable = ChangeID(origin: ReplicaID(kind: .node, name: "unreadable"), seq: 0)
}

public struct PushResponse: Hashable, Sendable, Codable {
    public var protocolVersion: Int
    public var receiver: ReplicaID
    public var results: [ChangeResult]

    public init(protocolVersion: Int = ProtocolVersion.current, receiver: ReplicaID, results: [ChangeResult]) {
        self.protocolVersion = protocolVersion
        self.receiver = receiver
        self.results = results
    }
}

/// `POST /v1/pull`: the changes after `after` in the receiver's log, within the puller's scope.
public struct PullRequest: Hashable, Sendable, Codable {
    public var protocolVersion: Int
    public var puller: ReplicaID
    public var after: UInt64
    public var limit: Int
    /// Asks the receiver to add `remaining` to its response (one count; a puller asks on its first page).
    public var estimate: Bool?
    /// Asks for the puller's own changes too (a replica recovering them after a restore, SPEC §7.2).
    public var includeOwn: Bool?
    /// The `cursorToken` the server gave with `after` (SPEC §5): a server whose log entry at `after` is
    /// not the one the token names (its store was restored and handed the position out again) serves
    /// from the start of its log instead.
    public var afterToken: String?

    public init(protocolVersion: Int = ProtocolVersion.current, puller: ReplicaID, after: UInt64, limit: Int = 1000, estimate: Bool? = nil) {
        self.protocolVersion = protocolVersion
        self.puller = puller
        self.after = after
        self.limit = limit
        self.estimate = estimate
    }
}

public struct PullResponse: Hashable, Sendable, Codable {
    public var protocolVersion: Int
    public var server: ReplicaID
    public var changes: [Change]
    /// The cursor to send next time. It covers exactly the entries scanned for this page.
    public var next: UInt64
    /// Whether more entries lie after `next`.
    public var more: Bool
    /// When the request asked for an estimate: about how many changes for this puller lie after `next`
    /// (an upper bound: it may count changes the receiver will not serve). A progress hint only.
    public var remaining: Int?
    /// Names the log entry at `next` (SPEC §5); the puller sends it back as `afterToken`.
    public var cursorToken: String?
    /// The puller's `afterToken` did not name this server's entry at `after`: this page starts from the
    /// beginning of the log (SPEC §7.2 rule 6).
    public var cursorReset: Bool?

    public init(protocolVersion: Int = ProtocolVersion.current, server: ReplicaID, changes: [Change], next: UInt64, more: Bool, remaining: Int? = nil) {
        self.protocolVersion = protocolVersion
        self.server = server
        self.changes = changes
        self.next = next
        self.more = more
        self.remaining = remaining
    }
}

/// A whole-request failure (the body could not be read, the version is unknown, the credential is bad).
/// Per-change problems are `Rejection`s inside a `PushResponse` instead.
public struct ProtocolError: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var field: String?

    public init(code: String, message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code)\(field.map { " at \($0)" } ?? ""): \(message)" }

    public static func unsupportedVersion(_ version: Int) -> ProtocolError {
        ProtocolError(code: "unsupported_protocol_version", message: "Protocol version \(version) is not supported; this receiver speaks \(ProtocolVersion.supported.map(String.init).joined(separator: ", ")).", field: "protocolVersion")
    }
}
