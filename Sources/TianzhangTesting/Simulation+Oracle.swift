import TianzhangDomain
import TianzhangSync

/// An oracle for the simulation's final check, written from Protocol/CONFLICTS.md and not from the
/// merge code: it never uses `RecordState` or `FieldRegister`. From the whole set of changes the hub
/// accepted it recomputes, per record and field, which writes are heads (written, and covered by no other
/// write of the field, SPEC §2.5) and which value the field's rule picks. A merge that is wrong the
/// same way in every order and at every replica (so every digest agrees) still disagrees with it.
struct MergeOracle {
    struct Write {
        var id: ChangeID
        var wall: Int64
        var counter: UInt32
        var value: JSONValue
    }

    /// SPEC §2.5: `x` covers `w` — `w` is an earlier change of `x`'s origin, or `x`'s base names a change
    /// of `w`'s origin at or after `w`'s seq.
    static func covers(_ x: Change, _ w: Change) -> Bool {
        if x.id == w.id { return false }
        if x.id.origin == w.id.origin && x.id.seq > w.id.seq { return true }
        return x.base.contains { $0.origin == w.id.origin && $0.seq >= w.id.seq }
    }

    /// CONFLICTS.md: later `(hlc, origin, seq)` is "after".
    static func after(_ a: Write, _ b: Write) -> Bool {
        if a.wall != b.wall { return a.wall > b.wall }
        if a.counter != b.counter { return a.counter > b.counter }
        if a.id.origin.rawValue != b.id.origin.rawValue { return a.id.origin.rawValue > b.id.origin.rawValue }
        return a.id.seq > b.id.seq
    }

    /// Who may write a field at all (CONFLICTS.md "who writes"): the county's reference data and
    /// hub-only records only from the hub; a case is closed only by the county.
    static func counts(_ change: Change, type: RecordType, field: String, rule: FieldRule) -> Bool {
        if change.origin.kind == .hub { return true }
        if rule == .hubOwned || [.division, .receipt, .enrolment].contains(type) { return false }
        if rule == .workflow, case .set(let value) = change.fields[field], value.objectValue?["status"] == .string("closed") { return false }
        return true
    }

    /// The expected materialized value of every field of every record, from the accepted changes.
    static func expected(from changes: [Change]) -> [RecordKey: [String: JSONValue]] {
        var result: [RecordKey: [String: JSONValue]] = [:]
        let byRecord = Dictionary(grouping: changes.filter { $0.key != nil }, by: { $0.key! })
        for (key, recordChanges) in byRecord {
            var fields: [String: JSONValue] = [:]
            for field in Set(recordChanges.flatMap(\.fields.keys)) {
                let rule = RuleBook.rule(for: key.type, field: field)
                let touching = recordChanges.filter { $0.fields[field] != nil && counts($0, type: key.type, field: field, rule: rule) }
                if rule == .growOnlySet {
                    var union: Set<JSONValue> = []
                    for change in touching { if case .add(let values) = change.fields[field] { union.formUnion(values) } }
                    fields[field] = .array(union.sorted { $0.canonicalText < $1.canonicalText })
                    continue
                }
                // SPEC §2.5: a write is a head unless another write of the field covers it.
                let writes = touching.filter { if case .set = $0.fields[field] { true } else { false } }
                let heads: [Write] = writes.compactMap { change in
                    guard case .set(let value) = change.fields[field], !writes.contains(where: { covers($0, change) }) else { return nil }
                    return Write(id: change.id, wall: change.hlc.wall, counter: change.hlc.counter, value: value)
                }
                guard !heads.isEmpty else { continue }
                let winner: Write
                switch rule {
                case .lastWriterWins, .hubOwned:
                    winner = heads.reduce(heads[0]) { after($1, $0) ? $1 : $0 }
                case .immutable:
                    winner = heads.reduce(heads[0]) { after($0, $1) ? $1 : $0 }
                case .maximum:
                    func rank(_ value: JSONValue) -> Double {
                        switch value {
                        case .number(let n): n
                        case .string("open"): 0
                        case .string("completed"): 1
                        default: -1
                        }
                    }
                    winner = heads.reduce(heads[0]) { best, next in
                        rank(next.value) != rank(best.value) ? (rank(next.value) > rank(best.value) ? next : best) : (after(next, best) ? next : best)
                    }
                case .workflow:
                    guard let chosen = workflowWinner(heads) else { continue }
                    winner = chosen
                case .growOnlySet:
                    continue
                }
                fields[field] = winner.value
            }
            result[key] = fields
        }
        return result
    }

    /// CONFLICTS.md, rule `workflow`: the highest round; in it, when confirmed and dismissed lines
    /// both stand, only the confirmed line; then the latest stage; then the latest stamp.
    static func workflowWinner(_ heads: [Write]) -> Write? {
        let stages: [String: Int] = ["reported": 0, "verifying": 1, "confirmed": 2, "dismissed": 2, "stopped": 3, "rectifying": 4, "rectified": 5, "closed": 6]
        func parts(_ write: Write) -> (round: Int, stage: Int, line: String?)? {
            guard let object = write.value.objectValue, let status = object["status"]?.stringValue, let stage = stages[status],
                let round = object["round"]?.numberValue else { return nil }
            let line = status == "confirmed" || status == "dismissed" ? status : object["decision"]?.stringValue
            return (Int(round), stage, line)
        }
        let valid = heads.compactMap { write in parts(write).map { (write, $0) } }
        guard let round = valid.map(\.1.round).max() else { return nil }
        let current = valid.filter { $0.1.round == round }
        let confirmed = current.filter { $0.1.line == "confirmed" }
        let pool = !confirmed.isEmpty && current.contains { $0.1.line == "dismissed" } ? confirmed : current
        return pool.reduce(pool[0]) { best, next in
            next.1.stage != best.1.stage ? (next.1.stage > best.1.stage ? next : best) : (after(next.0, best.0) ? next : best)
        }.0
    }

    /// The differences between what the hub materialized and what the oracle expects.
    static func check(states: [RecordState], accepted: [Change]) -> [String] {
        let expected = expected(from: accepted)
        var problems: [String] = []
        let held = Dictionary(uniqueKeysWithValues: states.map { ($0.key, $0) })
        for key in expected.keys.sorted() {
            guard let state = held[key] else {
                problems.append("oracle: \(key) has accepted changes but no state at the hub")
                continue
            }
            let materialized = state.materialized.objectValue ?? [:]
            for (field, value) in expected[key]!.sorted(by: { $0.key < $1.key }) {
                let rule = RuleBook.rule(for: key.type, field: field)
                let actual: JSONValue?
                var wanted = value
                if rule == .workflow {
                    let object = value.objectValue ?? [:]
                    actual = .object(["status": materialized["status"] ?? .null, "round": materialized["round"] ?? .null])
                    wanted = .object(["status": object["status"] ?? .null, "round": object["round"] ?? .null])
                } else if rule == .growOnlySet {
                    actual = materialized[field].map { .array(($0.arrayValue ?? []).sorted { $0.canonicalText < $1.canonicalText }) }
                } else {
                    actual = materialized[field]
                }
                if actual != wanted {
                    problems.append("oracle: \(key).\(field) is \(actual?.canonicalText ?? "absent") at the hub; CONFLICTS.md picks \(wanted.canonicalText)")
                }
            }
        }
        return problems
    }
}

extension Simulation {
    /// The hub's merged state against the independent oracle (every replica's digest equals the hub's
    /// over its scope, so this checks them all).
    func checkOracle() throws -> [String] {
        let hub = contents(hubID)
        let accepted = hub.log.filter { $0.delivery != .rejected }.map(\.change)
        let states = try replicas[hubID]!.store.read { tx in try tx.recordStates(in: enrolment[hubID]!) }
        return MergeOracle.check(states: states, accepted: accepted)
    }

    /// Every change any replica holds is the one its origin made: no forged or altered content got in.
    func checkNoForgery() -> [String] {
        var problems: [String] = []
        for id in order {
            for entry in contents(id).log {
                guard let made = created[entry.change.id] else {
                    if entry.change.origin.kind != .hub { problems.append("\(id) holds \(entry.change.id), which its origin never made") }
                    continue
                }
                let versions = [made] + (createdAgain[entry.change.id] ?? [])
                if !versions.contains(where: { ChangeSigning.sameContent($0, entry.change) }) { problems.append("\(id) holds \(entry.change.id) with content its origin never wrote") }
            }
        }
        return problems
    }

    /// One hostile act by `replica`, as a real hostile node or device would try it.
    func attack(_ replica: Replica) {
        // A replica cut off from everyone reaches no one.
        guard let upstream = replica.upstreams.first, !isolated.contains(replica.id) else { return }
        // Forgers and squatters need only an id (any change made); a replayer needs the signed change
        // itself, so it replays only changes that went over the wire (a change that never left its
        // device is known only to that device's store, which holds its key too).
        let replaying = rng.next() % 4 == 1
        let pool = replaying ? Array(onWire.values) : Array(created.values)
        let others = pool.filter { $0.origin != replica.id }.sorted { $0.id < $1.id }
        guard !others.isEmpty else { return }
        var victim = others[Int(rng.next() % UInt64(others.count))]
        let mine = ChangeSigning.seed(fromCredential: credentials[replica.id]!)
        var change: Change
        switch replaying ? 1 : [0, 2, 3][Int(rng.next() % 3)] {
        case 0:
            // Forge: the victim's id with altered content, signed with the attacker's own key.
            victim.author = "forger"
            change = victim
            ChangeSigning.sign(&change, seed: mine)
            count("hostile forge")
        case 1:
            // Replay another origin's change exactly as it was made (it may lie outside the attacker's scope).
            change = victim
            count("hostile replay")
        case 2:
            // A ghost origin the county never enrolled.
            change = victim
            change.id = ChangeID(origin: ReplicaID(kind: victim.origin.kind == .node ? .node : .patrol, name: "ghost-\(rng.next() % 3)"), seq: 1 + rng.next() % 5)
            ChangeSigning.sign(&change, seed: mine)
            count("hostile ghost")
        default:
            // Squat: the victim's id, unsigned (a pre-signature relay would have done this).
            change = victim
            change.signature = nil
            change.author = "squatter"
            count("hostile squat")
        }
        log("\(replica.id) attacks \(upstream) with \(change.id)")
        guard let target = replicas[upstream], target.downUntil < tick else { return }
        switch service(at: target).answer(.push(PushRequest(sender: replica.id, changes: [change])), secret: credentials[replica.id]) {
        case .success(.push(let response)):
            for result in response.results {
                if result.outcome == .rejected, let code = result.rejection?.code.rawValue { count("hostile refused \(code)") } else { count("hostile got \(result.outcome.rawValue)") }
            }
        case .failure(.refused(_, let error)): count("hostile refused \(error.code)")
        default: count("hostile push failed")
        }
    }
}
