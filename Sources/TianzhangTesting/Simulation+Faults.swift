import Foundation
import TianzhangDomain
import TianzhangStore
import TianzhangSync

extension Simulation {
    /// After a restore, or at a `hello` that showed its clock had run ahead, a replica records some of
    /// its changes again with new seqs, taking the old entries out (SPEC §2.4, §7.2): those are its own
    /// work, made by the engine for it. Each own entry no edit made is matched to the change it repeats
    /// (same record, same operations, taken out of the log); one that repeats none stays unknown (and
    /// `checkNoForgery` reports it).
    func registerRecordedAgain(by replica: Replica) {
        let contents = replica.store.snapshot()
        func known(_ change: Change) -> Bool {
            ([created[change.id]].compactMap { $0 } + (createdAgain[change.id] ?? [])).contains { ChangeSigning.sameContent($0, change) }
        }
        let unknown = contents.log.filter { $0.change.origin == replica.id && !known($0.change) }
        guard !unknown.isEmpty else { return }
        // Changes lost with a restore are not candidates: the engine never saw them, so it cannot have
        // recorded them again (a restored store reuses their seqs for changes it does record again).
        let takenOut = (created.values.filter { $0.origin == replica.id && !lostToRestore.contains($0.id) } + createdAgain.values.joined().filter { $0.origin == replica.id })
            .filter { made in contents.logIndex[made.id].map { !ChangeSigning.sameContent(contents.log[$0].change, made) } ?? true }
        for entry in unknown {
            // The latest change it repeats that is not yet accounted for (a repeat may be repeated again).
            // A change may be recorded again twice: re-stamped, then its store restored from a backup made
            // before, and re-stamped again (the same edit then reaches the county twice: SPEC §7.2).
            let repeats = takenOut.filter { $0.recordID == entry.change.recordID && $0.fields == entry.change.fields && $0.id.seq < entry.change.id.seq }
            if let first = repeats.first(where: { !recordedAgain.contains($0.id) }) ?? repeats.last, recordedAgain.contains(first.id) { count("edits recorded again twice") }
            guard let old = repeats.filter({ !recordedAgain.contains($0.id) }).max(by: { $0.id.seq < $1.id.seq }) ?? repeats.max(by: { $0.id.seq < $1.id.seq }) else {
                if replica.id != hubID { log("\(replica.id) holds \(entry.change.id) (\(entry.change.recordID) \(entry.change.fields.keys.sorted())), made by no edit") }
                continue
            }
            if created[entry.change.id] == nil { created[entry.change.id] = entry.change } else { createdAgain[entry.change.id, default: []].append(entry.change) }
            recordedAgain.insert(old.id)
            count("changes recorded again")
        }
    }

    /// Finding 3: a replica that has learnt the county's time at `hello` never stamps a change so far
    /// ahead that a receiver refuses it (`clock_ahead`), whatever its own clock says, until that clock
    /// jumps again.
    func checkClocks() -> [String] {
        var problems: [String] = []
        for id in stampedInCountyTime.sorted() {
            let origin = contents(id.origin)
            guard let entry = origin.logIndex[id].map({ origin.log[$0] }) else { continue }
            if entry.rejection?.code == .clockAhead {
                problems.append("\(id) was stamped after its replica learnt the county's time, yet refused clock_ahead")
            }
        }
        return problems
    }

    /// Finding 4: every attachment record the hub holds has its whole, verified bytes in the hub's vault
    /// (and at every node that relayed it); the same photo from two replicas reached the hub once each.
    func checkPhotos() -> [String] {
        var problems: [String] = []
        guard let hubVault = try? AttachmentVault(folder: replicas[hubID]!.vault) else { return ["the hub's vault cannot be opened"] }
        for entry in contents(hubID).log where entry.change.recordType == .attachment && entry.delivery != .rejected {
            guard let sha256 = SyncEngine.attachmentDigest(of: entry.change) else { continue }
            guard hubVault.has(sha256) else {
                problems.append("the hub holds attachment record \(entry.change.id) without its bytes \(sha256.prefix(12))")
                continue
            }
            if let expected = photoBytes[sha256], (try? hubVault.chunk(of: sha256, from: 0, limit: expected.count + 1)) != expected {
                problems.append("the hub's bytes of \(sha256.prefix(12)) are not the photo's")
            }
        }
        for _ in sharedPhotos { count("shared photos") }
        return problems
    }
}
