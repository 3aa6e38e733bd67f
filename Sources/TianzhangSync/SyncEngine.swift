import Crypto
import Foundation
import TianzhangDomain

/// A peer as the engine sees it: its replica id and the jurisdiction its credential grants.
public struct Peer: Hashable, Sendable {
    public var replica: ReplicaID
    public var jurisdiction: Jurisdiction

    public init(replica: ReplicaID, jurisdiction: Jurisdiction) {
        self.replica = replica
        self.jurisdiction = jurisdiction
    }
}

/// A local edit before it becomes a change.
public struct Draft: Hashable, Sendable {
    public var type: RecordType
    public var id: String
    public var scope: DivisionCode
    public var author: String
    public var fields: [String: FieldOperation]

    public init(type: RecordType, id: String, scope: DivisionCode, author: String, fields: [String: FieldOperation]) {
        self.type = type
        self.id = id
        self.scope = scope
        self.author = author
        self.fields = fields
    }
}

/// What one pushed batch did at the sender.
public struct PushSummary: Hashable, Sendable, Codable {
    public var accepted = 0
    public var merged = 0
    public var duplicates = 0
    public var rejected: [LogEntry] = []
    public var conflicts: [Conflict] = []
    /// Changes the receiver did not take yet, with a refusal that is not final (`attachment_bytes_missing`):
    /// they stay pending, to be sent again once their bytes are up.
    public var waiting: [WaitingChange] = []

    public init() {}
}

/// A pushed change the receiver answered with a refusal that is not final; it stays in the outbox.
public struct WaitingChange: Hashable, Sendable, Codable {
    public var id: ChangeID
    public var rejection: Rejection

    public init(id: ChangeID, rejection: Rejection) {
        self.id = id
        self.rejection = rejection
    }
}

/// What one pulled page did at the puller.
public struct PullSummary: Hashable, Sendable, Codable {
    public var applied = 0
    public var alreadyHad = 0
    public var confirmedAtCounty = 0
    public var rejectedByCounty: [ChangeID] = []

    public init() {}
}

/// The sync engine: every rule of the protocol, written once, over any `SyncTransaction`.
///
/// Pure: it reads no clock (the caller passes `physicalNow`) and does no I/O of its own; the HTTP
/// server, the HTTP client and the deterministic simulator all drive the same functions. Every public
/// function is meant to run inside one store transaction.
public struct SyncEngine: Sendable {
    public struct Configuration: Sendable {
        /// How far ahead of this replica's clock a received stamp may be (default 5 min).
        public var futureToleranceMilliseconds: Int64 = 5 * 60_000
        /// The land-class list to check parcel classes against (none: not checked).
        public var landClasses: LandClassCatalog?
        public var limits = ProtocolLimits()
        /// - Warning: for tests only: makes the merge deliberately wrong.
        public var mergeFault: MergeFault?

        public init(futureToleranceMilliseconds: Int64 = 5 * 60_000, landClasses: LandClassCatalog? = nil, limits: ProtocolLimits = ProtocolLimits()) {
            self.futureToleranceMilliseconds = futureToleranceMilliseconds
            self.landClasses = landClasses
            self.limits = limits
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    // MARK: - Opening

    /// Creates the replica's metadata on first use; checks it on later ones.
    /// - Throws: `ProtocolError` (`replica_mismatch`) when the store belongs to another replica.
    /// - Parameter credential: the credential a node or device was enrolled with; its signing key is
    ///   derived from it (SPEC §2.7). A hub makes a random key of its own. A store opened again with a
    ///   new credential (a re-enrolment) signs from then on with the new key.
    @discardableResult
    public func open(replica: ReplicaID, jurisdiction: Jurisdiction, credential: String? = nil, in tx: any SyncTransaction) throws -> ReplicaMeta {
        let seed = credential.map(ChangeSigning.seed(fromCredential:))
        if var meta = try tx.meta() {
            guard meta.replica == replica else {
                throw ProtocolError(code: "replica_mismatch", message: "This store belongs to \(meta.replica), not \(replica).")
            }
            let wanted = seed ?? meta.signingSeed ?? (replica.kind == .hub ? ChangeSigning.randomSeed() : nil)
            if wanted != meta.signingSeed {
                meta.signingSeed = wanted
                try tx.saveMeta(meta)
            }
            return meta
        }
        let meta = ReplicaMeta(
            replica: replica, jurisdiction: jurisdiction, clock: HLCClock(futureToleranceMilliseconds: configuration.futureToleranceMilliseconds),
            incarnation: Self.newIncarnation(), signingSeed: seed ?? (replica.kind == .hub ? ChangeSigning.randomSeed() : nil))
        try tx.saveMeta(meta)
        return meta
    }

    func requireMeta(_ tx: any SyncTransaction) throws -> ReplicaMeta {
        guard let meta = try tx.meta() else {
            throw ProtocolError(code: "not_initialized", message: "This store has no replica yet; run init first.")
        }
        return meta
    }

    // MARK: - Local writes

    /// Records a local edit: stamps it, checks it as any receiver would, folds it in and queues it.
    /// - Throws: `Rejection` when a receiver would refuse it (nothing is recorded then).
    @discardableResult
    public func record(_ draft: Draft, physicalNow: Int64, in tx: any SyncTransaction) throws -> Change {
        var meta = try requireMeta(tx)
        let key = RecordKey(draft.type, draft.id)
        let existing = try tx.recordState(key)
        var base = existing?.heads(of: draft.fields.keys) ?? []
        // An edit of a field nobody wrote yet still builds on the record: its base names one of the
        // record's changes, so no receiver mistakes it for a creation.
        if base.isEmpty, let existing { base = [existing.first] }
        var clock = meta.clock
        // Stamped in the county's time, never past it plus the allowed drift (SPEC §2.4).
        let countyNow = meta.countyTime(physicalNow)
        var change = Change(
            id: ChangeID(origin: meta.replica, seq: meta.originSeq + 1), recordType: draft.type, recordID: draft.id,
            scope: draft.scope, hlc: clock.tick(physical: countyNow, ceiling: stampCeiling(meta, countyNow)), author: draft.author, base: base, fields: draft.fields)
        let context = AdmissionContext(
            writerJurisdiction: meta.jurisdiction, physicalNow: max(countyNow, clock.last.wall),
            futureToleranceMilliseconds: configuration.futureToleranceMilliseconds, existing: existing, landClasses: configuration.landClasses)
        var checked = context
        checked.baseStatuses = try baseStatuses(of: change, tx)
        if let rejection = Admission.check(change, context: checked) { throw rejection }
        if let seed = meta.signingSeed { ChangeSigning.sign(&change, seed: seed) }
        meta.clock = clock
        meta.originSeq += 1
        try tx.saveMeta(meta)
        _ = try tx.appendLog(change, delivery: meta.replica.kind == .hub ? .atCounty : .pending, rejection: nil)
        try fold(change, into: existing, key: key, tx)
        return change
    }

    /// Re-sends a rejected change of this replica as a new change, with corrected fields.
    /// The rejected entry stays in the log, linked to its amendment.
    /// - Throws: `ProtocolError` (`not_amendable`) unless the change is this replica's and rejected;
    ///   `Rejection` when the amended change would be refused too.
    @discardableResult
    public func amend(_ id: ChangeID, fields: [String: FieldOperation]? = nil, scope: DivisionCode? = nil, physicalNow: Int64, in tx: any SyncTransaction) throws -> Change {
        let meta = try requireMeta(tx)
        guard var entry = try tx.logEntry(id), entry.delivery == .rejected, id.origin == meta.replica, entry.amendedBy == nil,
            let type = entry.change.recordType
        else {
            throw ProtocolError(code: "not_amendable", message: "Change \(id) is not a rejected, unamended change of this replica.")
        }
        let amended = try record(
            Draft(type: type, id: entry.change.recordID, scope: scope ?? entry.change.scope, author: entry.change.author, fields: fields ?? entry.change.fields),
            physicalNow: physicalNow, in: tx)
        entry.amendedBy = amended.id
        try tx.updateLog(entry)
        return amended
    }

    // MARK: - Corrections of reference data

    /// Asks the county to change a parcel's reference data (area, land class, geometry, basic-farmland
    /// flag): recorded as a `correction` record that syncs up; the parcel itself is unchanged until the
    /// county accepts it.
    /// - Throws: `Rejection` when the proposal names other fields or invalid values.
    @discardableResult
    public func requestCorrection(
        id: String, parcel: String, scope: DivisionCode, proposed: [String: JSONValue], reason: String, author: String,
        physicalNow: Int64, in tx: any SyncTransaction
    ) throws -> Change {
        try record(
            Draft(type: .correction, id: id, scope: scope, author: author, fields: [
                "parcelID": .set(.string(parcel)), "proposed": .set(.object(proposed)), "reason": .set(.string(reason)),
                "requestedBy": .set(.string(author)), "requestedAt": .set(.number(Double(physicalNow))),
            ]),
            physicalNow: physicalNow, in: tx)
    }

    /// The county's decision on a correction request; an accepted one is applied to the parcel in the
    /// same transaction (as a hub change, so it syncs like any reference edit).
    /// - Throws: `ProtocolError` (`not_found`, `not_authorized`) when the request is unknown or this is not the hub.
    public func decideCorrection(_ id: String, accept: Bool, note: String, author: String, physicalNow: Int64, in tx: any SyncTransaction) throws {
        let meta = try requireMeta(tx)
        guard meta.replica.kind == .hub else { throw ProtocolError(code: "not_authorized", message: "Only the county hub decides correction requests.") }
        guard let request = try tx.recordState(RecordKey(.correction, id)), let parcel = request.materialized["parcelID"]?.stringValue,
            let proposed = request.materialized["proposed"]?.objectValue
        else { throw ProtocolError(code: "not_found", message: "No correction request \(id).") }
        if accept {
            try record(Draft(type: .parcel, id: parcel, scope: request.scope, author: author, fields: proposed.mapValues { .set($0) }), physicalNow: physicalNow, in: tx)
        }
        try record(
            Draft(type: .correction, id: id, scope: request.scope, author: author, fields: [
                "decision": .set(accept ? "accepted" : "declined"), "decidedBy": .set(.string(author)), "decisionNote": .set(.string(note)),
            ]),
            physicalNow: physicalNow, in: tx)
    }

    // MARK: - Receiving a push

    /// Applies a pushed batch: each change at most once, each answered on its own, so a refused change
    /// never holds back the ones behind it. At the hub, receipts for the batch's origins are recorded
    /// in the same transaction.
    /// - Parameters:
    ///   - sender: the authenticated pusher.
    ///   - originJurisdiction: the enrolled jurisdiction of a change's origin, when the receiver knows it.
    ///   - originKeys: what the receiver knows of an origin's signing keys (SPEC §2.7).
    ///   - prechecked: `Admission.precheck(request.changes)`, worked out before the transaction so that
    ///     it does no geometric work (the answers are the same without it).
    ///   - holdsBytes: whether the receiver holds the whole, verified bytes of a digest for this change (SPEC
    ///     §10: bytes the sender uploaded whole, or bytes a record it may see refers to); `nil`: not checked. An attachment record whose bytes are not held is
    ///     refused with `attachment_bytes_missing`, which is not final: not remembered, no receipt.
    public func receive(
        _ request: PushRequest, from sender: Peer, originJurisdiction: (ReplicaID) -> Jurisdiction? = { _ in nil },
        originKeys: (ReplicaID) -> OriginKeys = { _ in .notChecked }, prechecked: Admission.Prechecked? = nil,
        holdsBytes: ((_ digest: String, _ change: Change) -> Bool)? = nil, physicalNow: Int64, in tx: any SyncTransaction
    ) throws -> PushResponse {
        var meta = try requireMeta(tx)
        let countyNow = meta.countyTime(physicalNow)
        let isHub = meta.replica.kind == .hub
        var results: [ChangeResult] = []
        var receipts: [ReplicaID: (scope: DivisionCode, accepted: [JSONValue], rejected: [JSONValue])] = [:]
        var refusals: [(change: Change, rejection: Rejection)] = []
        func noteReceipt(_ change: Change, rejection: Rejection?) {
            guard isHub, change.origin.kind != .hub else { return }
            let home = (originJurisdiction(change.origin) ?? (change.origin == sender.replica ? sender.jurisdiction : nil)).map(Self.home)
            var receipt = receipts[change.origin] ?? (home ?? change.scope, [], [])
            if let rejection {
                receipt.rejected.append(JSONValue(encoding: ReceiptRejection(seq: change.id.seq, rejection: rejection)))
                refusals.append((change, rejection))
            } else {
                receipt.accepted.append(.number(Double(change.id.seq)))
            }
            receipts[change.origin] = receipt
        }
        try tx.prefetch(records: request.changes.compactMap(\.key), changes: request.changes.map(\.id))
        for change in request.changes {
            // Who may send this change, and is it the origin's own? Refusals here are never stored
            // against the change id (a forger must not poison the real change) and never receipted.
            if let rejection = originRules(change, from: sender, meta: meta) {
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                continue
            }
            let inJurisdiction = sender.jurisdiction.covers(change.scope)
            let logged = try tx.logEntry(change.id)
            // A retry of a change held with the very same content: the first answer, no signature work
            // (the content was checked when it was taken). Only within the sender's jurisdiction.
            if inJurisdiction, let entry = logged, ChangeSigning.sameContent(entry.change, change) {
                results.append(entry.delivery == .rejected
                    ? ChangeResult(id: change.id, outcome: .rejected, rejection: entry.rejection)
                    : ChangeResult(id: change.id, outcome: .duplicate, seq: entry.seq))
                continue
            }
            if let rejection = authenticate(change, from: sender, originJurisdiction: originJurisdiction, originKeys: originKeys, meta: meta, prechecked: prechecked) {
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                continue
            }
            // Outside the sender's jurisdiction: refused before anything stored is told, so the answer
            // reveals nothing of what lies there (no "duplicate" for another township's change).
            if !inJurisdiction {
                let rejection = Rejection(.outsideJurisdiction, "Record \(change.recordTypeName)/\(change.recordID) lies in \(change.scope), outside sender \(sender.replica)'s jurisdiction (\(Admission.describe(sender.jurisdiction))).", field: "scope")
                if logged == nil, try tx.receivedRejection(change.id) == nil {
                    try tx.saveReceivedRejection(change.id, rejection)
                    noteReceipt(change, rejection: rejection)
                }
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                continue
            }
            if logged != nil {
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: Rejection(
                    .conflictingChangeID, "Change \(change.id) is already held here with other content; the first stands. A store restored from an old copy reuses sequence numbers: sync with hello first, which moves past them.", field: "seq")))
                continue
            }
            if let rejection = try tx.receivedRejection(change.id) {
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                continue
            }
            if let rejection = try admit(change, from: sender, originJurisdiction: originJurisdiction, meta: meta, prechecked: prechecked, physicalNow: countyNow, tx) {
                guard rejection.isFinal else {
                    // `clock_ahead`: nothing remembered, no receipt; the same change is taken once the
                    // receiver's time has caught up with it (or its writer re-stamped it at hello).
                    results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                    continue
                }
                try tx.saveReceivedRejection(change.id, rejection)
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: rejection))
                noteReceipt(change, rejection: rejection)
                continue
            }
            if let holdsBytes, change.recordType == .attachment, let digest = Self.attachmentDigest(of: change), !holdsBytes(digest, change) {
                // Not final: nothing is remembered, so the same change is taken once its bytes are up.
                results.append(ChangeResult(id: change.id, outcome: .rejected, rejection: Rejection(
                    .attachmentBytesMissing, "The bytes of attachment \(digest) are not here whole and verified: upload them (PUT /v1/attachments/\(digest)), then send this change again.", field: "sha256")))
                continue
            }
            meta.clock.observe(change.hlc, physical: countyNow)
            let seq = try tx.appendLog(change, delivery: isHub ? .atCounty : .pending, rejection: nil)
            let key = change.key!
            let state = try fold(change, into: try tx.recordState(key), key: key, tx)
            let open = state.conflicts(among: change.fields.keys.sorted()).filter { $0.status == .open }
            results.append(ChangeResult(id: change.id, outcome: open.isEmpty ? .accepted : .merged, seq: seq, conflicts: open.isEmpty ? nil : open))
            noteReceipt(change, rejection: nil)
        }
        try tx.saveMeta(meta)
        for origin in receipts.keys.sorted() {
            let receipt = receipts[origin]!
            var fields: [String: FieldOperation] = [:]
            if !receipt.accepted.isEmpty { fields["accepted"] = .add(receipt.accepted) }
            if !receipt.rejected.isEmpty { fields["rejected"] = .add(receipt.rejected) }
            try record(Draft(type: .receipt, id: origin.rawValue, scope: receipt.scope, author: meta.replica.rawValue, fields: fields), physicalNow: physicalNow, in: tx)
        }
        // A refusal must also reach every replica that may hold the refused change (a node may have
        // served it to its patrols), so it is also recorded in the change's own scope.
        for refusal in refusals where refusal.change.key != nil {
            let note = JSONValue(encoding: ReceiptRejection(seq: refusal.change.id.seq, rejection: refusal.rejection))
            try record(
                Draft(type: .receipt, id: "\(refusal.change.origin.rawValue):\(refusal.change.id.seq)", scope: refusal.change.scope, author: meta.replica.rawValue,
                      fields: ["origin": .set(.string(refusal.change.origin.rawValue)), "rejected": .add([note])]),
                physicalNow: physicalNow, in: tx)
        }
        try tx.finishBatch()
        return PushResponse(receiver: meta.replica, results: results)
    }

    /// The digest of the bytes an attachment record's change refers to: its `sha256` field, or (records
    /// made before ids per case and digest) its id when that is a digest; `nil` when it sets neither.
    public static func attachmentDigest(of change: Change) -> String? {
        if case .set(let value) = change.fields["sha256"], let digest = value.stringValue { return digest }
        guard change.base.isEmpty, change.recordID.utf8.count == 64 else { return nil }
        return change.recordID
    }

    /// Where an origin's receipt record lives: a division every puller entitled to it covers
    /// (the county, the township, or the first of a patrol's villages). It never changes.
    static func home(_ jurisdiction: Jurisdiction) -> DivisionCode {
        switch jurisdiction {
        case .county(let code), .township(let code), .adjustedTownship(let code, _, _): code
        case .villages(let codes): codes.min()!
        }
    }

    /// The checks of who sent a change and whether its origin made it, before anything stored is read:
    /// the origin rules, the origin's enrolment, and its signature (SPEC §2.7, §4.1).
    func authenticate(
        _ change: Change, from sender: Peer, originJurisdiction: (ReplicaID) -> Jurisdiction?, originKeys: (ReplicaID) -> OriginKeys, meta: ReplicaMeta,
        prechecked: Admission.Prechecked? = nil
    ) -> Rejection? {
        if let rejection = originRules(change, from: sender, meta: meta) { return rejection }
        return signatureCheck(change, from: sender, originKeys: originKeys, prechecked: prechecked)
    }

    /// Who may deliver a change of which origin (no cryptography).
    func originRules(_ change: Change, from sender: Peer, meta: ReplicaMeta) -> Rejection? {
        if change.origin.kind == .hub && change.origin != meta.replica {
            return Rejection(.originMismatch, "Only the hub itself writes changes with a hub origin; \(change.origin) is not this hub.", field: "origin")
        }
        if sender.replica.kind == .patrol && change.origin != sender.replica {
            return Rejection(.originMismatch, "A patrol device pushes only its own changes; \(sender.replica) sent one of \(change.origin).", field: "origin")
        }
        if change.origin == meta.replica {
            return Rejection(.originMismatch, "Change \(change.id) claims this receiver as its origin, but it has no such change.", field: "origin")
        }
        return nil
    }

    /// The origin's enrolment and signature (SPEC §2.7).
    func signatureCheck(_ change: Change, from sender: Peer, originKeys: (ReplicaID) -> OriginKeys, prechecked: Admission.Prechecked? = nil) -> Rejection? {
        switch originKeys(change.origin) {
        case .notChecked:
            return nil
        case .unknown:
            return Rejection(.unknownOrigin, "\(change.origin) was never enrolled by the county; changes are accepted only from enrolled nodes and devices.", field: "origin")
        case .unsigned(let jurisdiction):
            // Enrolled before signatures: its own pushes, or relayed by the office whose jurisdiction holds it.
            if change.signature == nil, change.origin != sender.replica,
                !(jurisdiction.map { sender.jurisdiction.includes($0) } ?? false) {
                return Rejection(.missingSignature, "\(change.origin) has no signing key on record, so only it or the office serving it may deliver its changes; \(sender.replica) may not.", field: "sig")
            }
            return nil
        case .keys(let keys):
            guard change.signature != nil else {
                return Rejection(.missingSignature, "Change \(change.id) is not signed; \(change.origin) signs every change with the key of its enrolment.", field: "sig")
            }
            guard prechecked?.signatureVerdict(change, keys: keys) ?? ChangeSigning.verify(change, publicKeys: keys) else {
                return Rejection(.badSignature, "The signature of change \(change.id) does not verify under any key the county enrolled for \(change.origin): it was altered or forged.", field: "sig")
            }
            return nil
        }
    }

    /// The statuses a status write builds on, as this replica's log holds them (`nil`: not a status
    /// write on top of earlier ones).
    func baseStatuses(of change: Change, _ tx: any SyncTransaction) throws -> [WorkflowValue]? {
        guard change.recordType == .enforcementCase, change.origin.kind != .hub, case .set = change.fields["status"], !change.base.isEmpty else { return nil }
        var found: [WorkflowValue] = []
        for id in change.base {
            if let entry = try tx.logEntry(id), case .set(let value) = entry.change.fields["status"], let status = WorkflowValue(value) {
                found.append(status)
            }
        }
        return found
    }

    func admit(
        _ change: Change, from sender: Peer, originJurisdiction: (ReplicaID) -> Jurisdiction?, meta: ReplicaMeta,
        prechecked: Admission.Prechecked? = nil, physicalNow: Int64, _ tx: any SyncTransaction
    ) throws -> Rejection? {
        let writer = change.origin == sender.replica ? sender.jurisdiction : (originJurisdiction(change.origin) ?? sender.jurisdiction)
        let existing = try change.key.flatMap { try tx.recordState($0) }
        var context = AdmissionContext(
            writerJurisdiction: writer, physicalNow: physicalNow, futureToleranceMilliseconds: configuration.futureToleranceMilliseconds,
            existing: existing, landClasses: configuration.landClasses, baseStatuses: try baseStatuses(of: change, tx))
        context.prechecked = prechecked
        return Admission.check(change, context: context)
    }

    // MARK: - Serving a pull

    /// A page of this replica's log after the puller's cursor, within its jurisdiction, without the
    /// puller's own changes and without refused ones.
    public func servePull(_ request: PullRequest, for puller: Peer, in tx: any SyncTransaction) throws -> PullResponse {
        let meta = try requireMeta(tx)
        let limit = max(1, min(request.limit, configuration.limits.pageChangesMax))
        // A cursor whose token names another entry than this log holds at that position: this store was
        // restored from an earlier copy and handed the position out again, so the puller may have missed
        // entries before it. Serve from the start (pulling again is idempotent; SPEC §7.2 rule 6).
        var after = request.after
        var reset: Bool?
        if after > 0, let token = request.afterToken, try cursorToken(at: after, meta: meta, in: tx) != token {
            after = 0
            reset = true
        }
        // A puller recovering its own changes after a restore asks for them too (SPEC §7.2).
        let page = try tx.logPage(after: after, in: puller.jurisdiction, excluding: request.includeOwn == true ? nil : puller.replica, limit: limit)
        let remaining = request.estimate == true ? (page.more ? try tx.logCount(after: page.scannedThrough, in: puller.jurisdiction, excluding: puller.replica) : 0) : nil
        var response = PullResponse(
            server: meta.replica, changes: page.entries.filter { $0.delivery != .rejected }.map(\.change),
            next: page.scannedThrough, more: page.more, remaining: remaining)
        response.cursorToken = try cursorToken(at: page.scannedThrough, meta: meta, in: tx)
        response.cursorReset = reset
        return response
    }

    /// Names the log entry at `seq` without telling what it is (SPEC §5): the first 16 hex digits of
    /// SHA-256 over "<seq> <change id>"; `nil` when no entry is there (none yet, or removed).
    public func cursorToken(at seq: UInt64, meta: ReplicaMeta, in tx: any SyncTransaction) throws -> String? {
        guard seq > 0 else { return nil }
        let probe = try tx.logPage(after: seq - 1, in: meta.jurisdiction, excluding: nil, limit: 1)
        guard let entry = probe.entries.first, entry.seq == seq else { return nil }
        return String(ContentDigest.sha256(Data("\(seq) \(entry.change.id)".utf8)).prefix(16))
    }

    // MARK: - Pushing

    /// The next batch of this replica's outbox (its own and relayed changes not yet upstream).
    /// - Parameter excluding: changes to leave out (those the receiver answered with a refusal that is not
    ///   final in this sync: they wait for their bytes and must not hold up the rest).
    public func nextPush(limit: Int? = nil, excluding: Set<ChangeID> = [], in tx: any SyncTransaction) throws -> PushRequest? {
        let meta = try requireMeta(tx)
        let limit = limit ?? configuration.limits.batchChangesMax
        let entries = try tx.pendingEntries(limit: limit + excluding.count).filter { !excluding.contains($0.change.id) }.prefix(limit)
        return entries.isEmpty ? nil : PushRequest(sender: meta.replica, changes: entries.map(\.change))
    }

    /// Records the receiver's answers: delivered changes leave the outbox; refused ones are kept,
    /// marked with the reason, and taken out of the merged state.
    public func handle(_ response: PushResponse, in tx: any SyncTransaction) throws -> PushSummary {
        var summary = PushSummary()
        let own = try tx.meta()?.replica
        for result in response.results {
            guard var entry = try tx.logEntry(result.id) else { continue }
            switch result.outcome {
            case .accepted, .merged, .duplicate:
                switch result.outcome {
                case .accepted: summary.accepted += 1
                case .merged: summary.merged += 1
                default: summary.duplicates += 1
                }
                summary.conflicts += result.conflicts ?? []
                if response.receiver.kind == .hub && entry.delivery == .rejected {
                    try markAtCounty(entry, tx)
                } else if entry.delivery == .pending || (entry.delivery == .forwarded && response.receiver.kind == .hub) {
                    entry.delivery = response.receiver.kind == .hub ? .atCounty : .forwarded
                    if entry.rejection?.isFinal == false { entry.rejection = nil }
                    try tx.updateLog(entry)
                }
            case .rejected:
                // The county's acceptance is final: a later refusal by an intermediate does not undo it.
                guard entry.delivery != .atCounty else { continue }
                let rejection = result.rejection ?? Rejection(.invalidValue, "Refused without a reason.")
                // `conflicting_change_id` for one of this replica's own changes: the upstream holds another
                // change under its id, so this store was restored and reused the seq. Not final here: it
                // stays pending, and the next `hello` records it again with a new seq (SPEC §7.2 rule 1).
                let reusedSeq = rejection.code == .conflictingChangeID && entry.change.origin == own
                guard rejection.isFinal && !reusedSeq else {
                    // Not yet taken (its bytes are not up): the change stays in the outbox, to be sent again,
                    // with the reason kept beside it for `pending` and `status`.
                    summary.waiting.append(WaitingChange(id: entry.change.id, rejection: rejection))
                    if entry.delivery == .pending || entry.delivery == .forwarded {
                        entry.rejection = rejection
                        try tx.updateLog(entry)
                    }
                    continue
                }
                let marked = try markRejected(entry, rejection, tx)
                summary.rejected.append(marked)
            }
        }
        return summary
    }

    @discardableResult
    func markRejected(_ entry: LogEntry, _ rejection: Rejection, _ tx: any SyncTransaction) throws -> LogEntry {
        var entry = entry
        guard entry.delivery != .rejected else { return entry }
        entry.delivery = .rejected
        entry.rejection = rejection
        try tx.updateLog(entry)
        if let key = entry.change.key { try refold(key, tx) }
        return entry
    }

    /// The county accepted a change an intermediate had refused: take it back into the state.
    func markAtCounty(_ entry: LogEntry, _ tx: any SyncTransaction) throws {
        var entry = entry
        let wasRejected = entry.delivery == .rejected
        entry.delivery = entry.change.origin == (try tx.meta())?.replica || entry.delivery != .received ? .atCounty : .received
        try tx.updateLog(entry)
        if wasRejected, let key = entry.change.key { try refold(key, tx) }
    }

    // MARK: - Applying a pulled page

    /// Applies a pulled page and advances the checkpoint for `upstream` in the same transaction, so the
    /// checkpoint never runs ahead of the data it covers.
    /// - Parameter originKeys: the signing keys this replica knows (the hub's from its credential, its
    ///   patrols' from `enrolment` records); a change whose signature does not verify under a known key
    ///   fails the whole page (`bad_signature`): nothing of it is applied, the sync stops loudly.
    /// - Throws: `ProtocolError` (`bad_signature`, `missing_signature`).
    public func apply(
        _ response: PullResponse, from upstream: String, originKeys: (ReplicaID) -> OriginKeys = { _ in .notChecked }, physicalNow: Int64,
        in tx: any SyncTransaction
    ) throws -> PullSummary {
        for change in response.changes {
            guard case .keys(let keys) = originKeys(change.origin) else { continue }
            guard change.signature != nil else {
                throw ProtocolError(code: "missing_signature", message: "\(response.server) served change \(change.id) unsigned; \(change.origin) signs its changes. Nothing of this page was applied.", field: "changes")
            }
            guard ChangeSigning.verify(change, publicKeys: keys) else {
                throw ProtocolError(code: "bad_signature", message: "\(response.server) served change \(change.id) with a signature that does not verify under \(change.origin)'s key: altered or forged on the way. Nothing of this page was applied.", field: "changes")
            }
        }
        var meta = try requireMeta(tx)
        var summary = PullSummary()
        let fromHub = response.server.kind == .hub
        // An origin's receipt record grows with every batch it pushed; read it once per page, not once
        // per change (re-read after a receipt change of this page is applied).
        var receipts = ReceiptCache()
        try tx.prefetch(records: response.changes.compactMap(\.key), changes: response.changes.map(\.id))
        for change in response.changes {
            guard let key = change.key else { continue }  // a type from a newer version: not ours to merge
            if let entry = try tx.logEntry(change.id) {
                summary.alreadyHad += 1
                // Confirmed only for the same content: a pulled change under the id of another one this
                // replica holds (its store was restored and reused the seq) confirms nothing (SPEC §7.2).
                if fromHub && (entry.delivery == .pending || entry.delivery == .forwarded || entry.delivery == .rejected) && ChangeSigning.sameContent(entry.change, change) {
                    try markAtCounty(entry, tx)
                    summary.confirmedAtCounty += 1
                }
                continue
            }
            meta.clock.observe(change.hlc, physical: meta.countyTime(physicalNow))
            if let rejection = try rejectionByReceipt(change.id, tx, cache: &receipts) {
                _ = try tx.appendLog(change, delivery: .rejected, rejection: rejection)
                continue
            }
            // One of this replica's own changes that its store lost (restored from a backup, SPEC §7.2).
            let own = change.origin == meta.replica
            _ = try tx.appendLog(change, delivery: own ? (fromHub ? .atCounty : .forwarded) : .received, rejection: nil)
            try fold(change, into: try tx.recordState(key), key: key, tx)
            summary.applied += 1
            // Only the county writes receipts (a relay's own "receipt" is folded as nothing, and acted on
            // as nothing: it must not mark its patrols' changes delivered or refused).
            if key.type == .receipt && change.origin.kind == .hub {
                receipts.states[key] = nil
                let outcome = try processReceipt(change, tx)
                summary.confirmedAtCounty += outcome.confirmed
                summary.rejectedByCounty += outcome.rejected
            }
        }
        try tx.saveMeta(meta)
        try tx.saveCheckpoint(peer: upstream, cursor: response.next)
        try tx.finishBatch()
        return summary
    }

    /// The receipt states read so far in one page (`nil`: read, and absent).
    struct ReceiptCache {
        var states: [RecordKey: RecordState?] = [:]
    }

    func rejectionByReceipt(_ id: ChangeID, _ tx: any SyncTransaction, cache: inout ReceiptCache) throws -> Rejection? {
        let originReceipt = RecordKey(.receipt, id.origin.rawValue)
        if cache.states[originReceipt] == nil { cache.states[originReceipt] = .some(try tx.recordState(originReceipt)) }
        let ownReceipt = try tx.recordState(RecordKey(.receipt, "\(id.origin.rawValue):\(id.seq)"))
        for receipt in [cache.states[originReceipt] ?? nil, ownReceipt].compactMap({ $0 }) {
            for element in receipt.registers["rejected"]?.elements ?? [] {
                if let note = try? element.decode(as: ReceiptRejection.self), note.seq == id.seq { return note.rejection }
            }
        }
        return nil
    }

    func processReceipt(_ change: Change, _ tx: any SyncTransaction) throws -> (confirmed: Int, rejected: [ChangeID]) {
        let originText: String? = if case .set(let value) = change.fields["origin"] { value.stringValue } else { change.recordID }
        guard let origin = originText.flatMap({ try? ReplicaID($0) }) else { return (0, []) }
        var confirmed = 0
        var rejected: [ChangeID] = []
        if case .add(let seqs) = change.fields["accepted"] {
            for seq in seqs.compactMap(\.numberValue) {
                guard let entry = try tx.logEntry(ChangeID(origin: origin, seq: UInt64(seq))), !entry.reusedSeq else { continue }
                if entry.delivery == .pending || entry.delivery == .forwarded || entry.delivery == .rejected {
                    confirmed += 1
                    try markAtCounty(entry, tx)
                }
            }
        }
        if case .add(let notes) = change.fields["rejected"] {
            for note in notes.compactMap({ try? $0.decode(as: ReceiptRejection.self) }) {
                let id = ChangeID(origin: origin, seq: note.seq)
                guard let entry = try tx.logEntry(id), entry.delivery != .rejected, !entry.reusedSeq else { continue }
                try markRejected(entry, note.rejection, tx)
                rejected.append(id)
            }
        }
        return (confirmed, rejected)
    }

    // MARK: - Folding

    @discardableResult
    func fold(_ change: Change, into existing: RecordState?, key: RecordKey, _ tx: any SyncTransaction) throws -> RecordState {
        var state = existing ?? RecordState(first: change, key: key)
        state.apply(change, fault: configuration.mergeFault)
        try tx.saveRecordState(state)
        return state
    }

    /// Rebuilds a record from its changes that still stand (after one was refused upstream).
    func refold(_ key: RecordKey, _ tx: any SyncTransaction) throws {
        guard let state = RecordState(folding: try tx.foldableChanges(of: key), key: key, fault: configuration.mergeFault) else {
            try tx.deleteRecordState(key)
            return
        }
        try tx.saveRecordState(state)
    }

    // MARK: - Inspection

    /// A digest of every record in `jurisdiction`: equal digests mean equal merged states (and equal
    /// conflicts). Hex SHA-256 over the canonical JSON of each record, in key order.
    public func digest(of jurisdiction: Jurisdiction, in tx: any SyncTransaction) throws -> String {
        StateDigest.of(try tx.recordStates(in: jurisdiction))
    }

    /// Every conflict on records in `jurisdiction`, open ones first.
    public func conflicts(in jurisdiction: Jurisdiction, in tx: any SyncTransaction) throws -> [Conflict] {
        var found: [Conflict] = []
        try tx.forEachRecordState(in: jurisdiction) { found += $0.conflicts }
        return found.sorted { ($0.status == .open ? 0 : 1, $0.id) < ($1.status == .open ? 0 : 1, $1.id) }
    }

    /// Where one of this replica's changes stands.
    public func delivery(of id: ChangeID, in tx: any SyncTransaction) throws -> LogEntry? { try tx.logEntry(id) }
}

/// One refused change, as carried by a receipt.
public struct ReceiptRejection: Hashable, Sendable, Codable {
    public var seq: UInt64
    public var rejection: Rejection
}

/// The state digest: how two replicas compare their states cheaply.
public enum StateDigest {
    public static func of(_ states: [RecordState]) -> String {
        var hasher = SHA256()
        for state in states.sorted(by: { $0.key < $1.key }) {
            hasher.update(data: Array(state.key.description.utf8))
            hasher.update(data: [0])
            hasher.update(data: Array(state.materialized.canonicalText.utf8))
            hasher.update(data: [0])
            hasher.update(data: Canonical.data(state.conflicts))
            hasher.update(data: [0x0A])
        }
        return Hex.encode(hasher.finalize())
    }
}
