import TianzhangDomain

/// One write to one field, as kept by a register.
public struct FieldWrite: Hashable, Sendable, Codable {
    public var id: ChangeID
    public var hlc: HLC
    public var author: String
    public var value: JSONValue
    /// The writes this one builds on (the change's base).
    public var base: [ChangeID]

    /// Last-writer-wins order: later HLC first, then the larger change id.
    static func lwwBefore(_ a: FieldWrite, _ b: FieldWrite) -> Bool { (a.hlc, a.id) < (b.hlc, b.id) }
}

/// The merge state of one field: a multi-value register (the writes nobody has built on yet), the
/// writes built on (superseded), and for grow-only sets the union of every addition.
///
/// Merging is set union of writes and of superseded ids, so it is commutative, associative and
/// idempotent: `heads = writes − superseded` whatever order the changes came in.
public struct FieldRegister: Hashable, Sendable, Codable {
    public var heads: [FieldWrite] = []
    public var superseded: Set<ChangeID> = []
    /// Every write ever applied to this field (ids only).
    public var writes: Set<ChangeID> = []
    /// For grow-only sets: the sorted union of all additions.
    public var elements: [JSONValue] = []

    public init() {}

    mutating func apply(_ write: FieldWrite) {
        superseded.formUnion(write.base)
        if !writes.contains(write.id) {
            writes.insert(write.id)
            if !superseded.contains(write.id) { heads.append(write) }
        }
        heads.removeAll { superseded.contains($0.id) }
        heads.sort { $0.id < $1.id }
    }

    /// A deliberately wrong merge, for proving that the simulation catches one: the write that arrives
    /// last wins, whatever its clock or base.
    mutating func applyByArrival(_ write: FieldWrite) {
        writes.insert(write.id)
        heads = [write]
    }

    mutating func add(_ values: [JSONValue], id: ChangeID, base: [ChangeID]) {
        superseded.formUnion(base)
        writes.insert(id)
        let known = Set(elements)
        let fresh = Set(values).subtracting(known)
        if !fresh.isEmpty { elements = (elements + fresh).sorted() }
    }

    /// The value the rule picks, and the writes that lost to it.
    public func resolve(_ rule: FieldRule, fault: MergeFault? = nil) -> (winner: FieldWrite?, value: JSONValue?, conflict: ConflictKind?) {
        switch rule {
        case .growOnlySet:
            return (nil, .array(elements), nil)
        case .lastWriterWins, .hubOwned:
            guard let winner = fault == .lwwKeepsOlder ? heads.min(by: FieldWrite.lwwBefore) : heads.max(by: FieldWrite.lwwBefore) else { return (nil, nil, nil) }
            let distinct = Set(heads.map(\.value)).count > 1
            return (winner, winner.value, distinct ? .concurrentWrites : nil)
        case .immutable:
            guard let winner = heads.min(by: FieldWrite.lwwBefore) else { return (nil, nil, nil) }
            let distinct = Set(heads.map(\.value)).count > 1
            return (winner, winner.value, distinct ? .divergentImmutable : nil)
        case .maximum:
            let winner = heads.max { a, b in
                (RuleBook.rank(a.value), a.hlc, a.id) < (RuleBook.rank(b.value), b.hlc, b.id)
            }
            return (winner, winner?.value, nil)
        case .workflow:
            return resolveWorkflow()
        }
    }

    private func resolveWorkflow() -> (winner: FieldWrite?, value: JSONValue?, conflict: ConflictKind?) {
        let candidates = heads.compactMap { write in WorkflowValue(write.value).map { (write, $0) } }
        guard let round = candidates.map(\.1.round).max() else { return (nil, nil, nil) }
        let current = candidates.filter { $0.1.round == round }
        let confirmedLine = current.filter { $0.1.line == .confirmed }
        let dismissedLine = current.filter { $0.1.line == .dismissed }
        let incompatible = !confirmedLine.isEmpty && !dismissedLine.isEmpty
        // The safe provisional winner of incompatible decisions is the confirmed line.
        let pool = incompatible ? confirmedLine : current
        let winner = pool.max { a, b in (a.1.status.stage, a.0.hlc, a.0.id) < (b.1.status.stage, b.0.hlc, b.0.id) }
        return (winner?.0, winner?.0.value, incompatible ? .incompatibleDecisions : nil)
    }

    /// Whether the head is a resolution: it built on two or more writes of this field.
    func resolution() -> FieldWrite? {
        guard heads.count == 1, let head = heads.first else { return nil }
        return head.base.filter { writes.contains($0) }.count >= 2 ? head : nil
    }
}

/// Deliberate merge faults, injected only by tests to show that the simulation detects broken rules.
public enum MergeFault: String, Hashable, Sendable, Codable {
    /// Last-writer-wins by arrival order instead of by (HLC, origin) and causality.
    case lastArrivalWins = "last_arrival_wins"
    /// Last-writer-wins keeping the *older* of concurrent writes: wrong, but the same in every order
    /// and at every replica, so only a check against an independent oracle can see it.
    case lwwKeepsOlder = "lww_keeps_older"
}

/// Why a conflict was raised.
public enum ConflictKind: String, Hashable, Sendable, Codable {
    /// Two writers set a last-writer-wins field concurrently to different values.
    case concurrentWrites = "concurrent_writes"
    /// Two incompatible decisions on a case (confirmed illegal vs dismissed) in the same round.
    case incompatibleDecisions = "incompatible_decisions"
    /// An immutable record was written twice with different content.
    case divergentImmutable = "divergent_immutable"
}

/// A conflict: derived on every replica from the same changes, so every replica shows the same one.
/// It is resolved by a change that builds on all the competing writes (its base lists them).
public struct Conflict: Hashable, Sendable, Codable {
    public enum Status: String, Hashable, Sendable, Codable { case open, resolved }

    /// Deterministic id: `<type>/<record>/<field>`.
    public var id: String
    public var record: RecordKey
    public var field: String
    public var kind: ConflictKind
    public var rule: FieldRule
    public var status: Status
    /// The provisional winner (open) or the resolution (resolved).
    public var winner: FieldWrite
    /// The competing writes that did not win (open), or the writes the resolution replaced (resolved).
    public var others: [ChangeID]
    /// Who may resolve it: the county for decisions and hub-owned data, else the township or the county.
    public var resolvableBy: [ActorRole]
}

/// The merged state of one record: a register per field, plus the set of changes folded in.
public struct RecordState: Hashable, Sendable, Codable {
    public var key: RecordKey
    public var registers: [String: FieldRegister]
    /// Every change folded into this record (for idempotence and re-folding after a rejection).
    public var changes: Set<ChangeID>
    /// The record's scope: last-writer-wins over the changes' scopes.
    public var scope: DivisionCode
    var scopeStamp: FieldWrite
    /// A deliberate fault this state was folded with (tests only; never set otherwise).
    var fault: MergeFault?

    /// A record made from its first change.
    public init(first change: Change, key: RecordKey) {
        self.key = key
        registers = [:]
        changes = []
        scope = change.scope
        scopeStamp = FieldWrite(id: change.id, hlc: change.hlc, author: change.author, value: .string(change.scope.rawValue), base: [])
        apply(change)
    }

    /// Folds a change in. Writes the rules forbid (hub-owned fields or closing from below) are ignored
    /// here as a second line of defence; receivers refuse them first (see `Admission`).
    /// - Returns: `false` when the change had already been folded in.
    @discardableResult
    public mutating func apply(_ change: Change, fault: MergeFault? = nil) -> Bool {
        guard !changes.contains(change.id) else { return false }
        if let fault { self.fault = fault }
        changes.insert(change.id)
        let stamp = FieldWrite(id: change.id, hlc: change.hlc, author: change.author, value: .string(change.scope.rawValue), base: [])
        if FieldWrite.lwwBefore(scopeStamp, stamp) {
            scopeStamp = stamp
            scope = change.scope
        }
        for field in change.fields.keys.sorted() {
            let rule = RuleBook.rule(for: key.type, field: field)
            guard Admission.mayWrite(field: field, rule: rule, type: key.type, change: change) else { continue }
            var register = registers[field] ?? FieldRegister()
            switch change.fields[field]! {
            case .set(let value):
                let write = FieldWrite(id: change.id, hlc: change.hlc, author: change.author, value: value, base: change.base)
                if fault == .lastArrivalWins { register.applyByArrival(write) } else { register.apply(write) }
            case .add(let values):
                register.add(values, id: change.id, base: change.base)
            }
            registers[field] = register
        }
        return true
    }

    /// The record as a JSON object: the winning value of every field, plus `id`. A case's status value is
    /// flattened into `status`, `round` and `decision`.
    public var materialized: JSONValue {
        var object: [String: JSONValue] = [:]
        for (field, register) in registers {
            let rule = RuleBook.rule(for: key.type, field: field)
            guard let value = register.resolve(rule, fault: fault).value else { continue }
            if rule == .workflow, let workflow = WorkflowValue(value) {
                object["status"] = .string(workflow.status.rawValue)
                object["round"] = .number(Double(workflow.round))
                object["decision"] = workflow.decision.map { .string($0.rawValue) } ?? .null
            } else {
                object[field] = value
            }
        }
        object["id"] = .string(key.id)
        return .object(object)
    }

    /// The conflicts on this record, open and resolved, in field order.
    public var conflicts: [Conflict] {
        registers.keys.sorted().compactMap { field -> Conflict? in
            let register = registers[field]!
            let rule = RuleBook.rule(for: key.type, field: field)
            let resolved = register.resolve(rule, fault: fault)
            let resolvableBy: [ActorRole] = rule == .workflow || rule == .hubOwned ? [.county] : [.township, .county]
            let id = "\(key.type.rawValue)/\(key.id)/\(field)"
            if let kind = resolved.conflict, let winner = resolved.winner {
                return Conflict(
                    id: id, record: key, field: field, kind: kind, rule: rule, status: .open, winner: winner,
                    others: register.heads.map(\.id).filter { $0 != winner.id }, resolvableBy: resolvableBy)
            }
            if let resolution = register.resolution() {
                let kind: ConflictKind = rule == .workflow ? .incompatibleDecisions : rule == .immutable ? .divergentImmutable : .concurrentWrites
                return Conflict(
                    id: id, record: key, field: field, kind: kind, rule: rule, status: .resolved, winner: resolution,
                    others: resolution.base.filter { register.writes.contains($0) }.sorted(), resolvableBy: resolvableBy)
            }
            return nil
        }
    }

    /// The join of two states of the same record (state-based merge): the union of their changes.
    /// Equal to folding both states' changes together, in any order.
    public func merged(with other: RecordState) -> RecordState {
        precondition(key == other.key, "merging states of different records")
        var result = self
        result.changes.formUnion(other.changes)
        if FieldWrite.lwwBefore(result.scopeStamp, other.scopeStamp) {
            result.scopeStamp = other.scopeStamp
            result.scope = other.scope
        }
        for (field, theirs) in other.registers {
            var register = result.registers[field] ?? FieldRegister()
            register.superseded.formUnion(theirs.superseded)
            let known = Set(register.heads.map(\.id))
            register.heads += theirs.heads.filter { !known.contains($0.id) }
            register.writes.formUnion(theirs.writes)
            register.heads.removeAll { register.superseded.contains($0.id) }
            register.heads.sort { $0.id < $1.id }
            register.elements = Array(Set(register.elements).union(theirs.elements)).sorted()
            result.registers[field] = register
        }
        return result
    }

    /// The heads of the given fields: what a writer puts in `base` when it edits them.
    public func heads(of fields: some Sequence<String>) -> [ChangeID] {
        var result = Set<ChangeID>()
        for field in fields { for head in registers[field]?.heads ?? [] { result.insert(head.id) } }
        return result.sorted()
    }
}
