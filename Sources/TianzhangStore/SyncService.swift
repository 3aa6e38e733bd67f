import Foundation
import TianzhangDomain
import TianzhangSync

/// How a server knows who is calling: the credentials it accepts and what it knows of origins it relays.
public struct CredentialAuthority: Sendable {
    /// Who checks, for messages ("the county hub", "node node:371312001").
    public var name: String
    /// The credential a bearer secret belongs to (`nil`: unknown).
    public var enrolment: @Sendable (String) throws -> Enrolment?
    /// The jurisdiction this server grants an origin (the county's view at the hub; the synced
    /// `enrolment` records at a node), to check the changes a sender relays.
    public var originJurisdiction: @Sendable (ReplicaID) throws -> Jurisdiction?
    /// The signing keys the county enrolled for an origin (SPEC §2.7): every change pushed here is
    /// checked against them.
    public var originKeys: @Sendable (ReplicaID) throws -> OriginKeys

    public init(name: String, enrolment: @escaping @Sendable (String) throws -> Enrolment?,
                originJurisdiction: @escaping @Sendable (ReplicaID) throws -> Jurisdiction?,
                originKeys: @escaping @Sendable (ReplicaID) throws -> OriginKeys) {
        self.name = name
        self.enrolment = enrolment
        self.originJurisdiction = originJurisdiction
        self.originKeys = originKeys
    }
}

/// The server side of protocol v1 (`Protocol/SPEC.md` §3–§10) on any sync store, apart from HTTP: who
/// is calling, `hello`, push, pull and the attachment calls. The county hub and a township node serve it
/// over HTTP (`ReplicaServer`); the simulation and the test fixtures call it in memory, so every receiver
/// runs this code.
public struct SyncService: Sendable {
    public let store: any SyncStore
    /// Where attachment bytes are kept (`nil`: this receiver keeps none and says so with `unavailable`).
    public let attachments: URL?
    public let engine: SyncEngine
    /// This server's replica id (the `server`/`receiver` of its answers).
    public let replica: ReplicaID
    public let authority: CredentialAuthority
    public var limits: ProtocolLimits
    /// The wall clock in milliseconds (injected so tests can move it).
    public let clock: @Sendable () -> Int64
    /// Told of every caller's `hello` (its clock skew and incarnation), e.g. to keep a sighting.
    public var onHello: (@Sendable (HelloRequest, _ now: Int64) throws -> Void)?
    /// How much of a push one write transaction takes.
    public var writeSlice = WriteSlice()

    /// The largest chunk a receiver takes in one request.
    public static let attachmentChunkMax = 1 << 20

    public init(store: any SyncStore, attachments: URL?, engine: SyncEngine, replica: ReplicaID, authority: CredentialAuthority,
                limits: ProtocolLimits = ProtocolLimits(), clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.store = store
        self.attachments = attachments
        self.engine = engine
        self.replica = replica
        self.authority = authority
        self.limits = limits
        self.clock = clock
    }

    /// The credential of a bearer secret.
    /// - Throws: `WireError` (401) — `unknown_credential`, `revoked_credential`.
    public func authenticate(secret: String?) throws -> Enrolment {
        guard let secret else {
            throw WireError(401, "unknown_credential", "Send the credential the county issued: Authorization: Bearer <credential>.")
        }
        guard let enrolment = try authority.enrolment(secret) else {
            throw WireError(401, "unknown_credential", "This credential is not known to \(authority.name).")
        }
        guard !enrolment.revoked else {
            throw WireError(401, "revoked_credential", "This credential of \(enrolment.replica) was revoked by the county; ask for a new enrolment.")
        }
        return enrolment
    }

    /// Answers `hello`: the highest common version, the record types both know, the jurisdiction the
    /// caller's credential grants now (how a replica learns its scope changed), and what this store holds
    /// of the caller's work (SPEC §7.1, §7.2).
    /// - Throws: `WireError` — `replica_mismatch` (403), `unsupported_protocol_version` (400).
    public func hello(_ hello: HelloRequest, _ enrolment: Enrolment) throws -> HelloResponse {
        guard hello.replica == enrolment.replica else { throw mismatch(hello.replica, enrolment) }
        guard let version = hello.protocolVersions.filter(ProtocolVersion.supported.contains).max() else {
            throw WireError(400, "unsupported_protocol_version", "None of versions \(hello.protocolVersions) is spoken here; this server speaks \(ProtocolVersion.supported).", field: "protocolVersions")
        }
        let known = Set(RecordType.allCases.map(\.rawValue))
        // The county's time as this server knows it: a township node's wall clock corrected by what it
        // learnt from the hub (else a node whose clock is hours off would pass its error to its patrols).
        let now = try store.read { try $0.meta() }?.countyTime(clock()) ?? clock()
        var response = HelloResponse(
            protocolVersion: version, server: replica, serverTime: now, limits: limits,
            recordTypes: hello.recordTypes.filter(known.contains).sorted(), jurisdiction: enrolment.jurisdiction)
        if let seq = hello.serverOriginSeq, seq > (try store.read { try $0.meta()?.originSeq } ?? .max) {
            let skipped = try store.write { tx in try engine.skipOwnSeqs(past: seq, in: tx) }
            if skipped > 0 {
                FileHandle.standardError.write(Data("store: \(hello.replica) holds \(skipped) changes of this server that its store lacks (restored from an earlier copy): its own seqs continue past \(seq)\n".utf8))
            }
        }
        let facts = try store.read { tx in try engine.helloFacts(for: hello, in: tx) }
        response.incarnation = facts.incarnation
        response.heldSeq = facts.held
        response.heldRelayedSeqs = facts.relayed
        response.logHead = facts.logHead
        response.heldDigests = facts.digests
        response.missingSeqs = facts.missing
        try onHello?(hello, now)
        return response
    }

    /// Receives a push: each change checked against the sender's jurisdiction and its origin's.
    /// - Throws: `WireError` — `unsupported_protocol_version`, `batch_too_large` (400), `replica_mismatch` (403).
    public func push(_ push: PushRequest, _ enrolment: Enrolment) throws -> PushResponse {
        try checkVersion(push.protocolVersion)
        guard push.sender == enrolment.replica else { throw mismatch(push.sender, enrolment) }
        let sent = push.changes.count + push.unreadable.count
        guard sent <= limits.batchChangesMax else {
            throw WireError(400, "batch_too_large", "\(sent) changes; at most \(limits.batchChangesMax) a push.", field: "changes")
        }
        // This server's view of every origin in the batch, read before the write transaction.
        var origins: [ReplicaID: Jurisdiction] = [:]
        var keys: [ReplicaID: OriginKeys] = [:]
        for origin in Set(push.changes.map(\.origin)) {
            origins[origin] = try authority.originJurisdiction(origin)
            keys[origin] = origin.kind == .hub ? .notChecked : try authority.originKeys(origin)
        }
        let peer = Peer(replica: enrolment.replica, jurisdiction: enrolment.jurisdiction)
        // The expensive stateless checks (polygons), before the write transaction: it does no geometry.
        // Signatures too: the write transaction only looks their verdicts up.
        var prechecked = Admission.precheck(push.changes)
        prechecked.verifySignatures(push.changes) { keys[$0] ?? .unknown }
        let now = clock()
        // An attachment record is taken only with its whole, verified bytes here (SPEC §10); a receiver
        // without a vault holds none, so it takes no attachment record either (they wait at the sender).
        let keeper = try? self.vault()
        // One write transaction per slice of the batch (`writeSlice`), so no push holds the county's
        // write path for long whatever it carries (issue 10: at most 100 ms). Each change's admission is
        // its own, so committing a slice at a time answers exactly as one transaction would; a crash
        // between slices leaves the first ones taken, and the sender's retry gets `duplicate` for them.
        var response = PushResponse(receiver: replica, results: [])
        for slice in writeSlice.slices(of: push.changes) {
            var part = push
            part.changes = Array(push.changes[slice])
            let answer = try store.write { tx in
                try engine.receive(part, from: peer, originJurisdiction: { origins[$0] }, originKeys: { keys[$0] ?? .unknown }, prechecked: prechecked, holdsBytes: { digest, change in
                    Self.holdsBytes(digest, for: change, vault: keeper, enrolment, tx)
                }, physicalNow: now, in: tx)
            }
            response.receiver = answer.receiver
            response.results += answer.results
        }
        // A change whose id could not be read is refused in its place; nothing of it is kept (SPEC §4.1).
        response.results = push.interleaving(response.results)
        return response
    }

    /// Serves a pull page within the puller's jurisdiction.
    /// - Throws: `WireError` — `unsupported_protocol_version` (400), `replica_mismatch` (403).
    public func pull(_ pull: PullRequest, _ enrolment: Enrolment) throws -> PullResponse {
        try checkVersion(pull.protocolVersion)
        guard pull.puller == enrolment.replica else { throw mismatch(pull.puller, enrolment) }
        let peer = Peer(replica: enrolment.replica, jurisdiction: enrolment.jurisdiction)
        return try store.read { tx in try engine.servePull(pull, for: peer, in: tx) }
    }

    func checkVersion(_ version: Int) throws(WireError) {
        guard ProtocolVersion.supported.contains(version) else {
            let error = ProtocolError.unsupportedVersion(version)
            throw WireError(400, error.code, error.message, field: error.field)
        }
    }

    func mismatch(_ claimed: ReplicaID, _ enrolment: Enrolment) -> WireError {
        WireError(403, "replica_mismatch", "This credential belongs to \(enrolment.replica), not \(claimed).", field: "sender")
    }
}

// MARK: - Attachments (SPEC §10)

extension SyncService {
    /// The vault of this replica.
    /// - Throws: `WireError` (503 `unavailable`) when this receiver keeps no attachments.
    public func vault() throws(WireError) -> AttachmentVault {
        guard let folder = attachments else { throw WireError(503, "unavailable", "This receiver keeps no attachments (no vault folder).") }
        do { return try AttachmentVault(folder: folder) } catch { throw WireError(503, "unavailable", error.description) }
    }

    /// Whether a caller may learn that the bytes of `sha256` are here: an attachment record that refers to
    /// them (its `sha256` field) lies in the caller's jurisdiction. The records looked at are the one the
    /// caller names (`?record=ID`) and the one whose id is the digest (records made before ids per case).
    public func mayKnow(_ sha256: String, record: String?, _ enrolment: Enrolment) -> Bool {
        guard (try? AttachmentMetadata.validateDigest(sha256, field: "sha256")) != nil else { return false }
        return (try? store.read { tx in try Self.mayKnow(sha256, record: record, enrolment, tx) }) ?? false
    }

    static func mayKnow(_ sha256: String, record: String?, _ enrolment: Enrolment, _ tx: any SyncTransaction) throws -> Bool {
        try [record, sha256].compactMap { $0 }.contains { id in
            guard let state = try tx.recordState(RecordKey(.attachment, id)),
                  state.registers["sha256"]?.heads.contains(where: { $0.value.stringValue == sha256 }) == true
            else { return false }
            return enrolment.jurisdiction.covers(state.scope)
        }
    }

    /// Whether a pushed attachment record's bytes are here for its sender: whole and verified, and either
    /// uploaded whole by the sender or referred to by a record it may see. (Bytes someone else uploaded
    /// do not count for a sender that could not see them: else a push would tell it they exist.)
    static func holdsBytes(_ sha256: String, for change: Change, vault: AttachmentVault?, _ enrolment: Enrolment, _ tx: any SyncTransaction) -> Bool {
        guard let vault, vault.has(sha256) else { return false }
        let known = (try? mayKnow(sha256, record: change.recordID, enrolment, tx)) ?? false
        return (try? vault.status(sha256, uploader: enrolment.replica.rawValue, mayKnow: known).complete) ?? false
    }

    /// How much of an attachment is held, as far as the caller may know.
    /// - Throws: `WireError` (`unavailable`, or the vault's refusal with its status).
    public func attachmentStatus(_ sha256: String, record: String?, _ enrolment: Enrolment) throws -> AttachmentStatus {
        let vault = try vault()
        let known = mayKnow(sha256, record: record, enrolment)
        do {
            let held = try vault.status(sha256, uploader: enrolment.replica.rawValue, mayKnow: known)
            return AttachmentStatus(sha256: sha256, received: held.received, complete: held.complete)
        } catch { throw Self.wireError(error) }
    }

    /// Takes a chunk of raw bytes into the caller's own partial upload.
    /// - Throws: `WireError` (`body_too_large`, `unavailable`, or the vault's refusal with its status).
    public func uploadAttachmentChunk(_ sha256: String, offset: Int64, size: Int64, bytes: some DataProtocol, record: String?, _ enrolment: Enrolment) throws -> AttachmentStatus {
        guard bytes.count <= Self.attachmentChunkMax else {
            throw WireError(413, "body_too_large", "A chunk is at most \(Self.attachmentChunkMax) bytes.")
        }
        let vault = try vault()
        let known = mayKnow(sha256, record: record, enrolment)
        do {
            let (received, complete) = try vault.append(sha256, uploader: enrolment.replica.rawValue, offset: offset, size: size, bytes: bytes, mayKnow: known)
            return AttachmentStatus(sha256: sha256, received: received, complete: complete)
        } catch { throw Self.wireError(error) }
    }

    /// A vault's refusal as a protocol error with its HTTP status (SPEC §10, errors.md).
    public static func wireError(_ error: VaultError) -> WireError {
        let status = switch error.code {
        case .offsetMismatch: 409
        case .digestMismatch, .sizeMismatch: 422
        case .invalidValue: 400
        case .quotaExceeded: 507
        case .io: 503
        }
        var wire = WireError(status, error.code.rawValue, error.message, field: error.code == .offsetMismatch ? "offset" : nil)
        if let received = error.received { wire.body.message += " (received: \(received))" }
        return wire
    }
}

/// How a push is cut into write transactions: at most `changes` changes and at most `positions` polygon
/// positions in one (a slice always takes at least one change). The defaults keep one transaction under
/// about 100 ms of a release build on the project machine (`tianzhang bench-admission`, performance.md).
public struct WriteSlice: Sendable, Hashable {
    public var changes: Int
    public var positions: Int

    public init(changes: Int = 32, positions: Int = 10_000) {
        self.changes = max(1, changes)
        self.positions = max(1, positions)
    }

    /// The index ranges of the slices, in order, covering `batch`.
    public func slices(of batch: [Change]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0, weight = 0
        for index in batch.indices {
            let positions = Self.positionCount(in: batch[index])
            if index > start, index - start >= changes || weight + positions > self.positions {
                result.append(start..<index)
                start = index
                weight = 0
            }
            weight += positions
        }
        if start < batch.count { result.append(start..<batch.count) }
        return result
    }

    /// Positions of the polygons a change carries (a parcel's geometry, a correction's proposal), counted
    /// without decoding them.
    public static func positionCount(in change: Change) -> Int {
        var values: [JSONValue] = []
        if case .set(let geometry) = change.fields["geometry"] { values.append(geometry) }
        if case .set(let proposed) = change.fields["proposed"], let geometry = proposed.objectValue?["geometry"] { values.append(geometry) }
        return values.reduce(0) { $0 + count($1) }
    }

    /// Objects with a `longitude` member inside `value` (positions of a polygon), bounded by the walk.
    static func count(_ value: JSONValue, depth: Int = 0) -> Int {
        guard depth <= Admission.valueDepthMax else { return 0 }
        switch value {
        case .object(let members): return members["longitude"] != nil ? 1 : members.values.reduce(0) { $0 + count($1, depth: depth + 1) }
        case .array(let items): return items.reduce(0) { $0 + count($1, depth: depth + 1) }
        default: return 0
        }
    }
}
