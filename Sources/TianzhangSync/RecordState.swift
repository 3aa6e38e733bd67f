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

/// A causal context compressed to one number per origin: every change of `origin` with a seq up to
/// `maxima[origin]` is covered. (The downward closure of a set of change ids, by each origin's order.)
///
/// A write covers, besides itself, every earlier write of its own origin (an origin sees its own
/// changes) and, through its base, every write up to each named change of that change's origin: the
/// named change happened after them. So one number per origin replaces the sets of every write and of
/// every superseded id that version 1 kept forever (decision 012).
public struct CausalContext: Hashable, Sendable {
    public private(set) var maxima: [ReplicaID: UInt64] = [:]

    public init() {}
    public init(_ ids: some Sequence<ChangeID>) { for id in ids { insert(id) } }

    public func covers(_ id: ChangeID) -> Bool { (maxima[id.origin] ?? 0) >= id.seq }
    public mutating func insert(_ id: ChangeID) {
        if (maxima[id.origin] ?? 0) < id.seq { maxima[id.origin] = id.seq }
    }
    public mutating func formUnion(_ other: CausalContext) {
        for (origin, seq) in other.maxima where (maxima[origin] ?? 0) < seq { maxima[origin] = seq }
    }
    public var isEmpty: Bool { maxima.isEmpty }
}

extension CausalContext: Codable {
    /// Stored as `{"<origin>": <seq>, …}`.
    public init(from decoder: any Decoder) throws {
        let object = try decoder.singleValueContainer().decode([String: UInt64].self)
        for (origin, seq) in object { maxima[try ReplicaID(origin)] = seq }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: maxima.map { ($0.key.rawValue, $0.value) }))
    }
}

/// Per origin, the seqs of its last two writes to a field (the two greatest of the set folded, so
/// joining is a union).
public struct LastWrites: Hashable, Sendable {
    public private(set) var seqs: [ReplicaID: [UInt64]] = [:]

    public init() {}
    public init(_ ids: some Sequence<ChangeID>) { for id in ids { insert(id) } }

    public func contains(_ id: ChangeID) -> Bool { seqs[id.origin]?.contains(id.seq) == true }
    public var isEmpty: Bool { seqs.isEmpty }

    public mutating func insert(_ id: ChangeID) {
        var kept = seqs[id.origin] ?? []
        guard !kept.contains(id.seq) else { return }
        kept.append(id.seq)
        seqs[id.origin] = Array(kept.sorted(by: >).prefix(2))
    }

    public func union(_ other: LastWrites) -> LastWrites {
        var result = self
        for (origin, theirs) in other.seqs { for seq in theirs { result.insert(ChangeID(origin: origin, seq: seq)) } }
        return result
    }
}

extension LastWrites: Codable {
    /// Stored as `{"<origin>": [<last>, <previous>], …}`.
    public init(from decoder: any Decoder) throws {
        for (origin, list) in try decoder.singleValueContainer().decode([String: [UInt64]].self) {
            let replica = try ReplicaID(origin)
            for seq in list { insert(ChangeID(origin: replica, seq: seq)) }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: seqs.map { ($0.key.rawValue, $0.value) }))
    }
}

/// A set of integers as sorted, disjoint, non-touching closed runs: `[[1, 5000], [5002, 9000]]`.
public struct IntegerRuns: Hashable, Sendable {
    public private(set) var runs: [ClosedRange<Int64>] = []

    public init() {}
    public var isEmpty: Bool { runs.isEmpty }
    public var values: [Int64] { runs.flatMap { Array($0) } }

    /// The integer a JSON value stands for, when it is one a `Double` holds exactly.
    static func integer(_ value: JSONValue) -> Int64? {
        guard case .number(let number) = value, number.rounded() == number, abs(number) <= 9_007_199_254_740_992 else { return nil }
        return Int64(number)
    }

    public func contains(_ value: Int64) -> Bool {
        var low = 0, high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].upperBound < value { low = mid + 1 } else { high = mid }
        }
        return low < runs.count && runs[low].contains(value)
    }

    public mutating func insert(_ value: Int64) {
        // The first run that ends at or after value - 1 (it may touch or hold value).
        var low = 0, high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].upperBound < value - 1 { low = mid + 1 } else { high = mid }
        }
        if low == runs.count {
            runs.append(value...value)
            return
        }
        let run = runs[low]
        if run.contains(value) { return }
        if value == run.upperBound + 1 {
            runs[low] = run.lowerBound...value
            if low + 1 < runs.count, runs[low + 1].lowerBound == value + 1 {
                runs[low] = run.lowerBound...runs[low + 1].upperBound
                runs.remove(at: low + 1)
            }
        } else if value == run.lowerBound - 1 {
            runs[low] = value...run.upperBound
        } else {
            runs.insert(value...value, at: low)
        }
    }

    public func union(_ other: IntegerRuns) -> IntegerRuns {
        var result = self
        for run in other.runs { result.insertRun(run) }
        return result
    }

    mutating func insertRun(_ run: ClosedRange<Int64>) {
        var merged = run
        var kept: [ClosedRange<Int64>] = []
        for existing in runs {
            if existing.upperBound + 1 < merged.lowerBound || merged.upperBound + 1 < existing.lowerBound {
                kept.append(existing)
            } else {
                merged = min(existing.lowerBound, merged.lowerBound)...max(existing.upperBound, merged.upperBound)
            }
        }
        kept.append(merged)
        runs = kept.sorted { $0.lowerBound < $1.lowerBound }
    }
}

extension IntegerRuns: Codable {
    /// Stored as `[[first, last], …]`.
    public init(from decoder: any Decoder) throws {
        for pair in try decoder.singleValueContainer().decode([[Int64]].self) {
            guard pair.count == 2, pair[0] <= pair[1] else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "A run is [first, last]."))
            }
            insertRun(pair[0]...pair[1])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(runs.map { [$0.lowerBound, $0.upperBound] })
    }
}

/// The merge state of one field: a multi-value register (the writes nobody has built on yet, `heads`),
/// the causal context of every write folded in (`context`), and for grow-only sets the union of every
/// addition.
///
/// Folding a write is the join of the state with the write's own state — the write as the only head,
/// under its context (itself and its base, closed per origin). The join keeps a head that both sides
/// keep, or that one side has and the other's context does not cover (the dot-store join of delta-state
/// CRDTs), so it is commutative, associative and idempotent, and the state's size depends on how many
/// writes are concurrent now, not on how many were ever made.
public struct FieldRegister: Hashable, Sendable {
    /// The current writes, in change-id order.
    public var heads: [FieldWrite] = []
    /// What the folded writes cover.
    public var context = CausalContext()
    /// Per origin, the seqs of its last two writes to this field folded here: which ids in a head's base
    /// are writes of this field (a head whose base names two or more of them resolved a conflict). Two,
    /// because the head is itself its origin's last write.
    public var writers = LastWrites()
    /// For grow-only sets: the integers added, as runs (a receipt's accepted seqs are mostly one run),
    /// and every other element added, sorted.
    public private(set) var integers = IntegerRuns()
    public private(set) var others: [JSONValue] = []

    /// For grow-only sets: the sorted union of all additions.
    public var elements: [JSONValue] {
        guard !integers.isEmpty else { return others }
        return (integers.values.map { JSONValue.number(Double($0)) } + others).sorted()
    }

    public init() {}

    mutating func setElements(integers: IntegerRuns, others: [JSONValue]) {
        self.integers = integers
        self.others = others.sorted()
    }

    /// The context a write brings: itself and its base.
    static func context(of id: ChangeID, base: [ChangeID]) -> CausalContext {
        var context = CausalContext(base)
        context.insert(id)
        return context
    }

    mutating func apply(_ write: FieldWrite) {
        let brought = Self.context(of: write.id, base: write.base)
        let fresh = !context.covers(write.id)
        heads.removeAll { $0.id != write.id && brought.covers($0.id) }
        if fresh {
            heads.append(write)
            heads.sort { $0.id < $1.id }
        }
        context.formUnion(brought)
        writers.insert(write.id)
    }

    /// A deliberately wrong merge, for proving that the simulation catches one: the write that arrives
    /// last wins, whatever its clock or base.
    mutating func applyByArrival(_ write: FieldWrite) {
        context.insert(write.id)
        writers.insert(write.id)
        heads = [write]
    }

    mutating func add(_ values: [JSONValue], id: ChangeID?, base: [ChangeID]) {
        // A grow-only set needs no context: union is idempotent, whatever order additions arrive in.
        var fresh: Set<JSONValue> = []
        for value in values {
            if let integer = IntegerRuns.integer(value) { integers.insert(integer) } else { fresh.insert(value) }
        }
        fresh.subtract(others)
        if !fresh.isEmpty { others = (others + fresh).sorted() }
    }

    /// The join of two registers of the same field.
    func joined(with other: FieldRegister) -> FieldRegister {
        var result = FieldRegister()
        let mine = Set(heads.map(\.id)), theirs = Set(other.heads.map(\.id))
        var kept = heads.filter { theirs.contains($0.id) || !other.context.covers($0.id) }
        kept += other.heads.filter { !mine.contains($0.id) && !context.covers($0.id) }
        result.heads = kept.sorted { $0.id < $1.id }
        result.context = context
        result.context.formUnion(other.context)
        result.writers = writers.union(other.writers)
        result.integers = integers.union(other.integers)
        result.others = Array(Set(others).union(other.others)).sorted()
        return result
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

    /// The head, when it is the only one and its base names two or more writes of this field (each the
    /// last write of its origin to the field folded here): a resolution, and the writes it replaced.
    func resolution() -> (write: FieldWrite, replaced: [ChangeID])? {
        guard heads.count == 1, let head = heads.first else { return nil }
        let named = head.base.filter { writers.contains($0) }
        return named.count >= 2 ? (head, Array(Set(named)).sorted()) : nil
    }
}

extension FieldRegister: Codable {
    /// The context the heads alone bring.
    var derivedContext: CausalContext {
        var result = CausalContext()
        for head in heads { result.formUnion(Self.context(of: head.id, base: head.base)) }
        return result
    }

    /// The last writes the heads alone make.
    var derivedWriters: LastWrites { LastWrites(heads.map(\.id)) }

    private enum Key: String, CodingKey { case heads, context, writers, elements, integers, superseded, writes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        heads = try c.decodeIfPresent([FieldWrite].self, forKey: .heads) ?? []
        let listed = try c.decodeIfPresent([JSONValue].self, forKey: .elements) ?? []
        if !listed.isEmpty { add(listed, id: nil, base: []) }
        if let runs = try c.decodeIfPresent(IntegerRuns.self, forKey: .integers) { integers = integers.union(runs) }
        if let writes = try c.decodeIfPresent(Set<ChangeID>.self, forKey: .writes) {
            // A version 1 register (every write and every superseded id): its context is their closure.
            let superseded = try c.decodeIfPresent(Set<ChangeID>.self, forKey: .superseded) ?? []
            context = CausalContext(writes.union(superseded))
            writers = LastWrites(writes)
        } else {
            // Absent when they say no more than the heads do (the common case: a field written once, or
            // each edit built on the one before).
            context = try c.decodeIfPresent(CausalContext.self, forKey: .context) ?? derivedContext
            writers = try c.decodeIfPresent(LastWrites.self, forKey: .writers) ?? derivedWriters
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        if !heads.isEmpty { try c.encode(heads, forKey: .heads) }
        if context != derivedContext { try c.encode(context, forKey: .context) }
        if writers != derivedWriters { try c.encode(writers, forKey: .writers) }
        if !others.isEmpty { try c.encode(others, forKey: .elements) }
        if !integers.isEmpty { try c.encode(integers, forKey: .integers) }
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

/// The merged state of one record: a register per field, plus the causal context of the changes
/// folded in.
public struct RecordState: Hashable, Sendable {
    public var key: RecordKey
    public var registers: [String: FieldRegister]
    /// What the changes folded into this record cover (per origin, the highest seq): a change it covers
    /// is a repeat, or was made before one folded here by the same origin.
    public var context: CausalContext
    /// The least change id folded in: what an edit of a field nobody wrote yet names as its base.
    public var first: ChangeID
    /// The record's scope: last-writer-wins over the changes' scopes.
    public var scope: DivisionCode
    var scopeStamp: FieldWrite
    /// A deliberate fault this state was folded with (tests only; never set otherwise).
    var fault: MergeFault?

    init(key: RecordKey, registers: [String: FieldRegister], context: CausalContext, first: ChangeID, scope: DivisionCode, scopeStamp: FieldWrite, fault: MergeFault?) {
        self.key = key
        self.registers = registers
        self.context = context
        self.first = first
        self.scope = scope
        self.scopeStamp = scopeStamp
        self.fault = fault
    }

    /// The record folded from its changes (in change-id order; the result does not depend on it), or
    /// `nil` when there are none.
    public init?(folding changes: [Change], key: RecordKey, fault: MergeFault? = nil) {
        let ordered = changes.sorted { $0.id < $1.id }
        guard let first = ordered.first else { return nil }
        self.init(first: first, key: key)
        for change in ordered.dropFirst() { apply(change, fault: fault) }
    }

    /// A record made from its first change.
    public init(first change: Change, key: RecordKey) {
        self.key = key
        registers = [:]
        context = CausalContext()
        first = change.id
        scope = change.scope
        scopeStamp = FieldWrite(id: change.id, hlc: change.hlc, author: change.author, value: .string(change.scope.rawValue), base: [])
        apply(change)
    }

    /// Folds a change in. Writes the rules forbid (hub-owned fields or closing from below) are ignored
    /// here as a second line of defence; receivers refuse them first (see `Admission`).
    /// - Returns: `false` when the record's context already covered the change (a repeat: folding it
    ///   again changed nothing).
    @discardableResult
    public mutating func apply(_ change: Change, fault: MergeFault? = nil) -> Bool {
        let fresh = !context.covers(change.id)
        if let fault { self.fault = fault }
        context.insert(change.id)
        if change.id < first { first = change.id }
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
        return fresh
    }

    /// The record as a JSON object: the winning value of every field, plus `id`. A case's status value is
    /// flattened into `status`, `round` and `decision`.
    public var materialized: JSONValue {
        var object: [String: JSONValue] = [:]
        var flattened: [String: JSONValue] = [:]
        for (field, register) in registers {
            let rule = RuleBook.rule(for: key.type, field: field)
            guard let value = register.resolve(rule, fault: fault).value else { continue }
            if rule == .workflow, let workflow = WorkflowValue(value) {
                flattened["status"] = .string(workflow.status.rawValue)
                flattened["round"] = .number(Double(workflow.round))
                flattened["decision"] = workflow.decision.map { .string($0.rawValue) } ?? .null
            } else {
                object[field] = value
            }
        }
        // The status's members win over fields of the same names, whatever the dictionary's order.
        object.merge(flattened) { _, status in status }
        object["id"] = .string(key.id)
        return .object(object)
    }

    /// The conflicts on this record, open and resolved, in field order.
    public var conflicts: [Conflict] { conflicts(among: registers.keys.sorted()) }

    /// The conflicts on these fields of this record, open and resolved, in the order given.
    public func conflicts(among fields: [String]) -> [Conflict] {
        fields.compactMap { field -> Conflict? in
            guard let register = registers[field] else { return nil }
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
                    id: id, record: key, field: field, kind: kind, rule: rule, status: .resolved, winner: resolution.write,
                    others: resolution.replaced, resolvableBy: resolvableBy)
            }
            return nil
        }
    }

    /// The join of two states of the same record (state-based merge). Equal to folding both states'
    /// changes together, in any order.
    public func merged(with other: RecordState) -> RecordState {
        precondition(key == other.key, "merging states of different records")
        var result = self
        result.context.formUnion(other.context)
        result.first = min(first, other.first)
        if FieldWrite.lwwBefore(result.scopeStamp, other.scopeStamp) {
            result.scopeStamp = other.scopeStamp
            result.scope = other.scope
        }
        for (field, theirs) in other.registers {
            result.registers[field] = (registers[field] ?? FieldRegister()).joined(with: theirs)
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

extension RecordState: Codable {
    private enum Key: String, CodingKey { case key, registers, context, first, scope, scopeStamp, fault, changes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        key = try c.decode(RecordKey.self, forKey: .key)
        registers = try c.decode([String: FieldRegister].self, forKey: .registers)
        scope = try c.decode(DivisionCode.self, forKey: .scope)
        scopeStamp = try c.decode(FieldWrite.self, forKey: .scopeStamp)
        fault = try c.decodeIfPresent(MergeFault.self, forKey: .fault)
        if let changes = try c.decodeIfPresent(Set<ChangeID>.self, forKey: .changes) {
            // A version 1 state, which listed every change folded in.
            guard let least = changes.min() else {
                throw DecodingError.dataCorruptedError(forKey: .changes, in: c, debugDescription: "A record state folds at least one change.")
            }
            context = CausalContext(changes)
            first = least
        } else {
            context = try c.decode(CausalContext.self, forKey: .context)
            first = try c.decode(ChangeID.self, forKey: .first)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(key, forKey: .key)
        try c.encode(registers, forKey: .registers)
        try c.encode(context, forKey: .context)
        try c.encode(first, forKey: .first)
        try c.encode(scope, forKey: .scope)
        try c.encode(scopeStamp, forKey: .scopeStamp)
        try c.encodeIfPresent(fault, forKey: .fault)
    }
}
