import Foundation
import TianzhangDomain

/// What a replica learned from its upstream's `hello` about its clock (SPEC §2.4, §7.1).
public struct ClockReading: Hashable, Sendable, Codable {
    /// The county's time minus this replica's wall clock, in ms (negative: this clock is ahead).
    public var offsetMilliseconds: Int64
    /// How far this replica's hybrid clock was brought back because it ran ahead of the county (0: it did not).
    public var rewoundMilliseconds: Int64
    /// Own changes not yet delivered that were stamped beyond the county's time plus the tolerance (made
    /// while this clock ran ahead), recorded again in county time: "old id → new id" (SPEC §2.4).
    public var restamped: [String]?
}

/// What a replica found, comparing its store with what its upstream says it holds (SPEC §7.2).
/// What a server tells a caller in `hello` about its store (SPEC §7.2).
public struct HelloFacts: Hashable, Sendable {
    public var incarnation: String?
    public var held: UInt64?
    public var relayed: [String: UInt64]?
    public var logHead: UInt64?
    public var digests: [String: String]?
    public var missing: [UInt64]?
}

extension Rejection.Code {
    /// A change of this replica whose seq the upstream already holds for a different change (this store
    /// was restored from an earlier copy): it was recorded again with a new seq (SPEC §7.2).
    public static let seqReused: Rejection.Code = "seq_reused"
}

public struct RollbackFindings: Hashable, Sendable, Codable {
    /// Sequence numbers of this replica's own changes that the upstream holds but this store had not
    /// used (the store was restored from an earlier copy): the next change skips past them.
    public var ownSeqsSkipped: UInt64 = 0
    /// Changes this replica had seen confirmed upstream that the upstream no longer holds (it was
    /// restored from an earlier copy): marked pending again, to be re-sent.
    public var resent = 0
    /// This replica's changes made after its store was restored whose seqs the upstream already held for
    /// other changes: each recorded again with a new seq (the old entries are marked `seq_reused`).
    public var renumbered: [String] = []
    /// Why the pull starts over from cursor 0, when it does.
    public var repullReason: String?
    /// Whether the pull asks for this replica's own changes too (to recover those its store lost).
    public var recoverOwn = false

    public init() {}
    public var isEmpty: Bool { ownSeqsSkipped == 0 && resent == 0 && repullReason == nil && renumbered.isEmpty }
}

extension SyncEngine {
    /// The allowed drift of a stamp past the county's time (SPEC §2.4): well inside every receiver's
    /// 5-minute tolerance, so a stamp at the ceiling is never refused as `clock_ahead`.
    public static let stampDriftMilliseconds: Int64 = 60_000

    /// A new random store incarnation (32 hex digits).
    public static func newIncarnation() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// The highest wall a local stamp may carry: the county's time plus the drift, once this replica
    /// has learned the county's time; none before (and at the hub).
    func stampCeiling(_ meta: ReplicaMeta, _ countyNow: Int64) -> Int64? {
        meta.clockOffset == nil ? nil : countyNow + Self.stampDriftMilliseconds
    }

    /// Gives a store made before incarnations its own (stores made since have one from `open`).
    @discardableResult
    public func ensureIncarnation(in tx: any SyncTransaction) throws -> String {
        var meta = try requireMeta(tx)
        if let incarnation = meta.incarnation { return incarnation }
        let incarnation = Self.newIncarnation()
        meta.incarnation = incarnation
        try tx.saveMeta(meta)
        return incarnation
    }

    /// Marks the store as restored by an operator: a new incarnation (SPEC §7.2).
    public func markRestored(in tx: any SyncTransaction) throws -> String {
        var meta = try requireMeta(tx)
        let incarnation = Self.newIncarnation()
        meta.incarnation = incarnation
        try tx.saveMeta(meta)
        return incarnation
    }

    /// The optional members of a `hello` that let the upstream answer what it holds (SPEC §7.1, §7.2).
    /// - Parameter upstream: the server this replica synced with last (`nil`: none yet).
    public func describeForHello(_ request: HelloRequest, localTime: Int64, checkpoint peer: String, upstream: ReplicaID? = nil, in tx: any SyncTransaction) throws -> HelloRequest {
        let meta = try requireMeta(tx)
        var request = request
        request.localTime = localTime
        request.incarnation = meta.incarnation
        request.originSeq = meta.originSeq
        request.checkpoint = try tx.checkpoint(peer: peer)
        let relayed = Set(try tx.entries(delivery: .atCounty).map(\.change.origin) + (try tx.entries(delivery: .forwarded).map(\.change.origin)))
            .subtracting([meta.replica]).filter { $0.kind != .hub }
        request.relayedOrigins = relayed.isEmpty ? nil : relayed.sorted()
        request.pendingFrom = try tx.entries(delivery: .pending).first { $0.change.origin == meta.replica }?.change.id.seq
        let forwarded = try tx.entries(delivery: .forwarded).filter { $0.change.origin == meta.replica }.prefix(1000).map(\.change.id.seq)
        request.forwardedSeqs = forwarded.isEmpty ? nil : Array(forwarded)
        if let upstream, let seq = try tx.highestSeq(of: upstream), seq > 0 { request.serverOriginSeq = seq }
        return request
    }

    /// What a server answers in `hello` about its own store (SPEC §7.2).
    public func helloFacts(for request: HelloRequest, in tx: any SyncTransaction) throws -> HelloFacts {
        let meta = try requireMeta(tx)
        var facts = HelloFacts(incarnation: meta.incarnation, held: try tx.highestSeq(of: request.replica), logHead: try tx.logHead())
        if let origins = request.relayedOrigins, !origins.isEmpty {
            var seqs: [String: UInt64] = [:]
            for origin in origins.prefix(1000) { if let seq = try tx.highestSeq(of: origin) { seqs[origin.rawValue] = seq } }
            facts.relayed = seqs
        }
        if let forwarded = request.forwardedSeqs, !forwarded.isEmpty {
            var missing: [UInt64] = []
            for seq in forwarded.prefix(1000) {
                let id = ChangeID(origin: request.replica, seq: seq)
                if try tx.logEntry(id) == nil, try tx.receivedRejection(id) == nil { missing.append(seq) }
            }
            facts.missing = missing.isEmpty ? nil : missing
        }
        if let from = request.pendingFrom, let held = facts.held, from >= 1, held >= from {
            var digests: [String: String] = [:]
            for seq in from...min(held, from + 999) {
                if let entry = try tx.logEntry(ChangeID(origin: request.replica, seq: seq)) { digests[String(seq)] = Self.digest(of: entry.change) }
            }
            facts.digests = digests
        }
        return facts
    }

    /// A server restored from an earlier copy learns from a caller's `hello` how far its own seqs went:
    /// its next own change skips past what the caller holds (SPEC §7.2).
    /// - Returns: how many seqs were skipped (0: none).
    public func skipOwnSeqs(past seq: UInt64, in tx: any SyncTransaction) throws -> UInt64 {
        var meta = try requireMeta(tx)
        guard seq > meta.originSeq else { return 0 }
        let skipped = seq - meta.originSeq
        meta.originSeq = seq
        if meta.replica.kind != .hub { meta.ownChangesLost = true }
        try tx.saveMeta(meta)
        return skipped
    }

    /// A change's digest for `hello` (hex SHA-256 of its canonical JSON).
    public static func digest(of change: Change) -> String { ContentDigest.sha256(Canonical.data(change)) }

    /// Learns the county's time from a `hello` answered at `serverTime`, sent at `sentAt` and answered
    /// at `receivedAt` (this replica's wall clock): keeps the offset, and brings back a hybrid clock
    /// that ran ahead of the county's time plus the drift (SPEC §2.4).
    public func learnCountyTime(serverTime: Int64, sentAt: Int64, receivedAt: Int64, in tx: any SyncTransaction) throws -> ClockReading {
        var meta = try requireMeta(tx)
        // A wall clock that went back during the request (it was set meanwhile) says nothing reliable
        // about the offset: the one learnt before stays.
        guard receivedAt >= sentAt else { return ClockReading(offsetMilliseconds: meta.clockOffset ?? 0, rewoundMilliseconds: 0) }
        let offset = serverTime - (sentAt + (receivedAt - sentAt) / 2)
        meta.clockOffset = offset
        meta.clockOffsetLearnedAt = serverTime
        if meta.incarnation == nil { meta.incarnation = Self.newIncarnation() }
        let rewound = meta.clock.rewind(to: serverTime + Self.stampDriftMilliseconds)
        try tx.saveMeta(meta)
        return ClockReading(offsetMilliseconds: offset, rewoundMilliseconds: rewound)
    }

    /// Records one of this replica's changes again under a new seq and a new stamp, keeping its operations
    /// and its causal context (`base`, with the ids of changes already recorded again renamed): the
    /// same edit, made when it was made, only numbered and stamped anew. Not checked again against the
    /// record's state now (which may have moved on concurrently): it was checked when it was made.
    func recordAgain(_ change: Change, renaming: [ChangeID: ChangeID], physicalNow: Int64, in tx: any SyncTransaction) throws -> Change {
        var meta = try requireMeta(tx)
        guard let key = change.key else { return change }
        var clock = meta.clock
        let countyNow = meta.countyTime(physicalNow)
        var again = change
        again.id = ChangeID(origin: meta.replica, seq: meta.originSeq + 1)
        again.base = change.base.map { renaming[$0] ?? $0 }
        again.hlc = clock.tick(physical: countyNow, ceiling: stampCeiling(meta, countyNow))
        again.signature = nil
        if let seed = meta.signingSeed { ChangeSigning.sign(&again, seed: seed) }
        meta.clock = clock
        meta.originSeq += 1
        try tx.saveMeta(meta)
        _ = try tx.appendLog(again, delivery: .pending, rejection: nil)
        _ = try fold(again, into: try tx.recordState(key), key: key, tx)
        return again
    }

    /// Records again, stamped in county time, this replica's own changes not yet delivered whose stamp
    /// lies more than the receivers' tolerance ahead of the county's time (made while its clock ran
    /// ahead, before a `hello` told it so): a receiver would answer them `clock_ahead` until the county's
    /// time caught up with them, hours later. The old entries leave the log (a store that cannot remove
    /// entries keeps them, refused `clock_ahead`, amended by the new ones). Call it after
    /// `learnCountyTime`, in the same transaction (SPEC §2.4).
    /// - Returns: "old id → new id" for each change recorded again.
    /// - Parameter hello: the upstream's answer: changes it already holds as they are (its answer to
    ///   their push was lost) are delivered, and left alone.
    public func restampAhead(physicalNow: Int64, hello: HelloResponse? = nil, in tx: any SyncTransaction) throws -> [String] {
        let meta = try requireMeta(tx)
        guard meta.replica.kind != .hub, meta.clockOffset != nil else { return [] }
        let limit = meta.countyTime(physicalNow) + configuration.futureToleranceMilliseconds
        func heldUpstream(_ change: Change) -> Bool {
            guard let held = hello?.heldSeq, change.id.seq <= held else { return false }
            return hello?.heldDigests?[String(change.id.seq)] == Self.digest(of: change)
        }
        let ahead = try tx.entries(delivery: .pending).filter { $0.change.origin == meta.replica && $0.change.hlc.wall > limit && !heldUpstream($0.change) }
        var restamped: [String] = []
        var renamed: [ChangeID: ChangeID] = [:]
        for entry in ahead {
            guard entry.change.recordType != nil else { continue }
            let removed = try tx.removeLogEntry(entry.change.id)
            if removed {
                if let key = entry.change.key { try refold(key, tx) }
            } else {
                try markRejected(entry, Rejection(.clockAhead, "Stamped \((entry.change.hlc.wall - limit) / 60_000) min ahead of the county's time (this clock ran ahead); recorded again in county time."), tx)
            }
            let again = try recordAgain(entry.change, renaming: renamed, physicalNow: physicalNow, in: tx)
            renamed[entry.change.id] = again.id
            if !removed, var old = try tx.logEntry(entry.change.id) {
                old.amendedBy = again.id
                try tx.updateLog(old)
            }
            restamped.append("\(entry.change.id) → \(again.id)")
        }
        return restamped
    }

    /// Compares this store with what the upstream's `hello` says it holds, and repairs what a restore
    /// on either side broke (SPEC §7.2):
    /// - the upstream holds seqs of this origin past `originSeq` (this store was restored): skip past
    ///   them, and pull this replica's own changes back;
    /// - the upstream holds fewer of this origin's (or a relayed origin's) changes than this store saw
    ///   delivered (the upstream was restored): mark those pending again, to be re-sent, and pull again;
    /// - the checkpoint lies past the upstream's log head, or the upstream's incarnation changed: pull again.
    /// A pull again starts from cursor 0 (changes already held are skipped).
    /// - Parameter knownIncarnation: the upstream's incarnation at the last sync (`nil`: unknown).
    /// - Parameter sentOriginSeq: the `originSeq` the `hello` request carried: an own change with a higher
    ///   seq was made after the request was sent, so the upstream cannot hold it as it is.
    public func reconcile(_ hello: HelloResponse, knownIncarnation: String?, checkpoint peer: String, sentOriginSeq: UInt64? = nil, physicalNow: Int64, in tx: any SyncTransaction) throws -> RollbackFindings {
        var meta = try requireMeta(tx)
        var findings = RollbackFindings()
        if let held = hello.heldSeq, hello.heldDigests != nil || sentOriginSeq != nil {
            let digests = hello.heldDigests ?? [:]
            // Own changes not yet confirmed whose seq the upstream holds for a different change: made
            // after this store was restored. From the first of them on, every pending own change is
            // taken out and recorded again, in order, with new seqs past what the upstream holds.
            func reused(_ entry: LogEntry) -> Bool {
                let seq = entry.change.id.seq
                guard seq <= held else { return false }
                if let sent = sentOriginSeq, seq > sent { return true }
                return digests[String(seq)].map { $0 != Self.digest(of: entry.change) } == true
            }
            let pending = try tx.entries(delivery: .pending).filter { $0.change.origin == meta.replica }
            if let first = pending.firstIndex(where: reused) {
                // Those the upstream holds as they are (same digest) are delivered already: left as they are,
                // their next push is answered `duplicate` (recording them again would apply them twice).
                let redo = pending[first...].filter { entry in
                    entry.change.id.seq > held || reused(entry) || digests[String(entry.change.id.seq)] == nil
                }
                // The old entries leave the log (their ids are the upstream's other changes, which the
                // pull brings back); a store that cannot remove entries keeps them, refused as `seq_reused`.
                var removed = true
                for entry in redo {
                    if try tx.removeLogEntry(entry.change.id) {
                        if let key = entry.change.key { try refold(key, tx) }
                    } else {
                        removed = false
                        try markRejected(entry, Rejection(.seqReused, "The upstream already holds \(entry.change.id) as a different change (this store was restored from an earlier copy); recorded again with a new seq."), tx)
                    }
                }
                meta = try requireMeta(tx)
                meta.originSeq = max(meta.originSeq, held)
                try tx.saveMeta(meta)
                var renamed: [ChangeID: ChangeID] = [:]
                for entry in redo {
                    guard entry.change.recordType != nil else { continue }
                    let again = try recordAgain(entry.change, renaming: renamed, physicalNow: physicalNow, in: tx)
                    renamed[entry.change.id] = again.id
                    if !removed, var old = try tx.logEntry(entry.change.id) {
                        old.amendedBy = again.id
                        try tx.updateLog(old)
                    }
                    findings.renumbered.append("\(entry.change.id) → \(again.id)")
                }
                meta = try requireMeta(tx)
                findings.recoverOwn = true
                findings.repullReason = "the upstream holds other changes under \(redo.count) of this replica's seqs (this store was restored from an earlier copy)"
            }
        }
        if let held = hello.heldSeq, held > meta.originSeq {
            findings.ownSeqsSkipped = held - meta.originSeq
            findings.recoverOwn = true
            findings.repullReason = "the upstream holds this replica's changes up to seq \(held), this store only up to \(meta.originSeq) (restored from an earlier copy)"
            meta.originSeq = held
            try tx.saveMeta(meta)
        }
        if meta.ownChangesLost == true {
            // A patrol told this node it holds own changes its store lacks (rule 4): the upstream may
            // hold them too; pull them back.
            findings.recoverOwn = true
            if findings.repullReason == nil {
                findings.repullReason = "a patrol held changes of this replica that its store lacked (restored from an earlier copy)"
            }
            meta = try requireMeta(tx)
            meta.ownChangesLost = nil
            try tx.saveMeta(meta)
        }
        let delivered = try tx.entries(delivery: .atCounty) + tx.entries(delivery: .forwarded)
        for entry in delivered where entry.change.origin.kind != .hub || entry.change.origin == meta.replica {
            let origin = entry.change.origin
            let held = origin == meta.replica ? hello.heldSeq : hello.heldRelayedSeqs?[origin.rawValue]
            // By the highest seq, or — for own changes the server took and the county has not confirmed —
            // by the seqs it says it lacks (a restored server that took newer ones since has a high `heldSeq`).
            let missing = origin == meta.replica && entry.delivery == .forwarded && hello.missingSeqs?.contains(entry.change.id.seq) == true
            guard missing || (held.map { entry.change.id.seq > $0 } ?? false) else { continue }
            var entry = entry
            entry.delivery = .pending
            try tx.updateLog(entry)
            findings.resent += 1
        }
        if findings.resent > 0 && findings.repullReason == nil {
            findings.repullReason = "the upstream no longer holds \(findings.resent) changes it had confirmed (restored from an earlier copy)"
        }
        let checkpoint = try tx.checkpoint(peer: peer)
        if findings.repullReason == nil, let head = hello.logHead, checkpoint > head {
            findings.repullReason = "this replica's checkpoint \(checkpoint) lies past the upstream's log head \(head) (restored from an earlier copy)"
        }
        if findings.repullReason == nil, let known = knownIncarnation, let now = hello.incarnation, known != now {
            findings.repullReason = "the upstream's store incarnation changed (restored by its operator)"
        }
        if findings.repullReason != nil { try tx.saveCheckpoint(peer: peer, cursor: 0) }
        return findings
    }
}
