import TianzhangDomain
import TianzhangStore
import TianzhangSync

/// Faults the simulated network and machines inflict.
public struct SimulationFaults: Sendable, Hashable {
    /// Probability that a message is lost.
    public var drop: Double
    /// Probability that a message is delivered twice.
    public var duplicate: Double
    /// Messages take 1…`delayTicksMax` ticks, so they overtake each other (reordering).
    public var delayTicksMax: Int
    /// Per tick, probability that a random replica is cut off from everyone; and that all links heal.
    public var partition: Double
    public var heal: Double
    /// Per tick, probability that a random replica crashes (loses everything not committed) for a while.
    public var crash: Double
    public var crashTicks: Int

    public init(drop: Double = 0.1, duplicate: Double = 0.05, delayTicksMax: Int = 6, partition: Double = 0.02, heal: Double = 0.03, crash: Double = 0.01, crashTicks: Int = 15) {
        self.drop = drop
        self.duplicate = duplicate
        self.delayTicksMax = delayTicksMax
        self.partition = partition
        self.heal = heal
        self.crash = crash
        self.crashTicks = crashTicks
    }

    public static let none = SimulationFaults(drop: 0, duplicate: 0, delayTicksMax: 1, partition: 0, heal: 1, crash: 0)
}

public struct SimulationConfiguration: Sendable {
    public var seed: UInt64
    public var townships: Int
    public var patrolsPerTownship: Int
    public var ticks: Int
    /// Per tick and replica: probability of an offline edit; of starting a sync.
    public var editRate: Double
    public var syncRate: Double
    public var faults: SimulationFaults
    /// For proving the checks work: run every replica with a deliberately broken merge.
    public var mergeFault: MergeFault?
    /// Per tick: probability that a hostile act is tried (a node forging its patrols' or another
    /// township's changes, ghost origins, replays of another township's changes, a patrol squatting a
    /// node's change id). Every receiver checks signatures (SPEC §2.7).
    public var hostility: Double

    public init(seed: UInt64, townships: Int = 3, patrolsPerTownship: Int = 2, ticks: Int = 400, editRate: Double = 0.15, syncRate: Double = 0.25, faults: SimulationFaults = SimulationFaults(), mergeFault: MergeFault? = nil, hostility: Double = 0.08) {
        self.seed = seed
        self.townships = townships
        self.patrolsPerTownship = patrolsPerTownship
        self.ticks = ticks
        self.editRate = editRate
        self.syncRate = syncRate
        self.faults = faults
        self.mergeFault = mergeFault
        self.hostility = hostility
    }
}

/// A failed check: what broke, and how to replay it.
public struct SimulationFailure: Error, CustomStringConvertible, Sendable {
    public var seed: UInt64
    public var problems: [String]
    public var description: String {
        "simulation failed (replay: SIM_SEED=\(seed) swift test --filter replicasConverge, or tianzhang simulate --seed \(seed) --trace):\n- "
            + problems.prefix(12).joined(separator: "\n- ") + (problems.count > 12 ? "\n- … \(problems.count - 12) more" : "")
    }
}

/// A hub, township nodes and patrol devices in one process, driven by one seeded scheduler.
///
/// Everything random comes from one `SplitMix64`; messages queue by `(tick, insertion order)`; no
/// wall clock, no dictionary iteration where order matters. The same seed replays the same run.
public final class Simulation {
    final class Replica {
        let id: ReplicaID
        /// What the replica itself believes it may write (its own meta).
        let jurisdiction: Jurisdiction
        var store: InMemorySyncStore
        let upstreams: [ReplicaID]
        /// Device clock error in milliseconds (negative: behind).
        let clockSkew: Int64
        var downUntil = -1
        var epoch = 0

        init(id: ReplicaID, jurisdiction: Jurisdiction, upstreams: [ReplicaID], clockSkew: Int64) {
            self.id = id
            self.jurisdiction = jurisdiction
            self.store = InMemorySyncStore()
            self.upstreams = upstreams
            self.clockSkew = clockSkew
        }
    }

    enum Message {
        /// A hostile push: its answer goes nowhere (the hostile replica does not record it).
        case hostilePush(PushRequest)
        case pushRequest(PushRequest)
        case pushResponse(PushResponse)
        case pullRequest(PullRequest)
        case pullResponse(PullResponse)
    }

    struct Envelope {
        var deliverAt: Int
        var order: Int
        var from: ReplicaID
        var to: ReplicaID
        /// The epoch of the process that will handle the answer (a crash voids older requests).
        var requesterEpoch: Int
        var message: Message
    }

    public let configuration: SimulationConfiguration
    let engine: SyncEngine
    var rng: SplitMix64
    var replicas: [ReplicaID: Replica] = [:]
    var order: [ReplicaID] = []
    let hubID: ReplicaID
    /// The jurisdictions the hub enrolled (the authority's view).
    var enrolment: [ReplicaID: Jurisdiction] = [:]
    /// The jurisdictions each node granted its patrols (may be stale: wider than the hub's).
    var nodeGrants: [ReplicaID: Jurisdiction] = [:]
    var queue: [Envelope] = []
    var nextOrder = 0
    var isolated: Set<ReplicaID> = []
    var tick = 0
    let baseTime: Int64 = 1_763_884_800_000  // 2025-11-23T08:00:00Z
    public private(set) var trace: [String] = []
    public var tracing = false
    /// Every change any replica recorded, by id.
    var created: [ChangeID: Change] = [:]
    public private(set) var counters: [String: Int] = [:]

    public init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
        var engineConfiguration = SyncEngine.Configuration()
        engineConfiguration.mergeFault = configuration.mergeFault
        engine = SyncEngine(configuration: engineConfiguration)
        rng = SplitMix64(seed: configuration.seed)
        let county = try! DivisionCode("371312")
        hubID = ReplicaID(kind: .hub, name: county.rawValue)
        add(Replica(id: hubID, jurisdiction: .county(county), upstreams: [], clockSkew: 0))
        enrolment[hubID] = .county(county)
        let townshipSuffixes = ["001", "004", "005", "006", "007", "008"]
        for t in 0..<configuration.townships {
            let township = try! DivisionCode("371312" + townshipSuffixes[t % townshipSuffixes.count])
            let node = ReplicaID(kind: .node, name: township.rawValue)
            add(Replica(id: node, jurisdiction: .township(township), upstreams: [hubID], clockSkew: 0))
            enrolment[node] = .township(township)
            for p in 0..<configuration.patrolsPerTownship {
                let village = try! DivisionCode(township.rawValue + "20\(p + 1)")
                let patrol = ReplicaID(kind: .patrol, name: "\(township.rawValue)-p\(p + 1)")
                // The last patrol of the first township: its node still grants a village the hub has
                // moved away from it, so some of its writes pass the node and are refused by the hub.
                var granted: Set<DivisionCode> = [village]
                if t == 0 && p == configuration.patrolsPerTownship - 1 {
                    granted.insert(try! DivisionCode(township.rawValue + "209"))
                }
                // Device clocks are wrong: hours behind is tolerated; one runs 20 min fast.
                let skew: Int64 = p == 0 ? -3 * 3_600_000 : (t == 1 && p == 1 ? 20 * 60_000 : 0)
                add(Replica(id: patrol, jurisdiction: .villages(granted), upstreams: [node, hubID], clockSkew: skew))
                enrolment[patrol] = .villages([village])
                nodeGrants[patrol] = .villages(granted)
            }
        }
        for id in order {
            let replica = replicas[id]!
            _ = try! replica.store.write { tx in try engine.open(replica: id, jurisdiction: replica.jurisdiction, credential: Self.credential(id), in: tx) }
        }
        seedParcels()
    }

    /// The credential the county issued each simulated replica (its signing key derives from it).
    static func credential(_ id: ReplicaID) -> String { "sim-credential-\(id.rawValue)" }

    /// What `receiver` knows of an origin's keys: the hub, every enrolled replica's; a node, its
    /// patrols' (from enrolment records) and the hub's; a patrol, the hub's.
    func originKeys(_ origin: ReplicaID, at receiver: ReplicaID) -> OriginKeys {
        let known: Bool
        switch receiver.kind {
        case .hub: known = enrolment[origin] != nil
        case .node: known = origin.kind == .hub || (origin.kind == .patrol && nodeGrants[origin] != nil)
        case .patrol: known = origin.kind == .hub
        }
        if known { return .keys([ChangeSigning.publicKey(fromCredential: Self.credential(origin))]) }
        return receiver.kind == .hub || origin.kind == .patrol ? .unknown : .notChecked
    }

    func add(_ replica: Replica) {
        replicas[replica.id] = replica
        order.append(replica.id)
    }

    func physical(_ replica: Replica) -> Int64 { baseTime + Int64(tick) * 1_000 + replica.clockSkew }

    func log(_ text: @autoclosure () -> String) {
        if tracing { trace.append("t=\(tick) \(text())") }
    }

    func count(_ key: String) { counters[key, default: 0] += 1 }

    // MARK: - Running

    /// Runs the faulty phase, then heals everything and syncs until quiet, then checks.
    /// - Throws: `SimulationFailure` listing every broken property.
    public func run() throws {
        for _ in 0..<configuration.ticks {
            step()
            if tick % 50 == 0 {
                let problems = checkCheckpoints()
                if !problems.isEmpty { throw SimulationFailure(seed: configuration.seed, problems: problems) }
            }
        }
        try quiesce()
        let problems = checkAll()
        if !problems.isEmpty { throw SimulationFailure(seed: configuration.seed, problems: problems) }
    }

    func step() {
        tick += 1
        let faults = configuration.faults
        if rng.chance(faults.partition) {
            let victim = order[Int(rng.next() % UInt64(order.count))]
            isolated.insert(victim)
            log("partition \(victim)")
        }
        if rng.chance(faults.heal) && !isolated.isEmpty {
            isolated.removeAll()
            log("heal")
        }
        if rng.chance(faults.crash) {
            let victim = replicas[order[Int(rng.next() % UInt64(order.count))]]!
            victim.downUntil = tick + faults.crashTicks
            victim.epoch += 1
            // A restart reads the store back from disk: only committed transactions survive.
            victim.store = InMemorySyncStore(copying: victim.store)
            count("crash")
            log("crash \(victim.id)")
        }
        for id in order {
            let replica = replicas[id]!
            guard replica.downUntil < tick else { continue }
            if rng.chance(configuration.editRate) { edit(replica) }
            if rng.chance(configuration.hostility) { attack(replica) }
            if !replica.upstreams.isEmpty && rng.chance(configuration.syncRate) {
                let upstream = replica.upstreams[rng.chance(0.8) ? 0 : replica.upstreams.count - 1]
                if rng.chance(0.5) { startPush(replica, to: upstream) } else { startPull(replica, from: upstream) }
            }
        }
        deliverDue()
    }

    func send(_ message: Message, from: ReplicaID, to: ReplicaID, requesterEpoch: Int, faulty: Bool = true) {
        let faults = faulty ? configuration.faults : .none
        if rng.chance(faults.drop) {
            count("dropped")
            return
        }
        let copies = rng.chance(faults.duplicate) ? 2 : 1
        for _ in 0..<copies {
            let delay = 1 + Int(rng.next() % UInt64(max(1, faults.delayTicksMax)))
            queue.append(Envelope(deliverAt: tick + delay, order: nextOrder, from: from, to: to, requesterEpoch: requesterEpoch, message: message))
            nextOrder += 1
        }
        if copies == 2 { count("duplicated") }
    }

    func deliverDue() {
        let due = queue.filter { $0.deliverAt <= tick }.sorted { ($0.deliverAt, $0.order) < ($1.deliverAt, $1.order) }
        queue.removeAll { $0.deliverAt <= tick }
        for envelope in due { deliver(envelope) }
    }

    func deliver(_ envelope: Envelope) {
        guard let target = replicas[envelope.to], target.downUntil < tick else { return count("lost to crash") }
        if isolated.contains(envelope.from) || isolated.contains(envelope.to) { return count("lost to partition") }
        switch envelope.message {
        case .pushRequest(let request):
            guard let response = try? target.store.write({ tx in
                try engine.receive(request, from: peer(envelope.from, as: envelope.to), originJurisdiction: { self.authorityView(of: $0, at: envelope.to) },
                                   originKeys: { self.originKeys($0, at: envelope.to) }, physicalNow: physical(target), in: tx)
            }) else { return count("push failed") }
            send(.pushResponse(response), from: target.id, to: envelope.from, requesterEpoch: envelope.requesterEpoch)
        case .hostilePush(let request):
            guard let response = try? target.store.write({ tx in
                try engine.receive(request, from: peer(envelope.from, as: envelope.to), originJurisdiction: { self.authorityView(of: $0, at: envelope.to) },
                                   originKeys: { self.originKeys($0, at: envelope.to) }, physicalNow: physical(target), in: tx)
            }) else { return count("push failed") }
            for result in response.results {
                if result.outcome == .rejected, let code = result.rejection?.code.rawValue { count("hostile refused \(code)") } else { count("hostile got \(result.outcome.rawValue)") }
            }
        case .pullRequest(let request):
            guard let response = try? target.store.read({ tx in try engine.servePull(request, for: peer(envelope.from, as: envelope.to), in: tx) }) else { return count("pull failed") }
            send(.pullResponse(response), from: target.id, to: envelope.from, requesterEpoch: envelope.requesterEpoch)
        case .pushResponse(let response):
            guard envelope.requesterEpoch == target.epoch else { return count("stale response") }
            _ = try? target.store.write { tx in try engine.handle(response, in: tx) }
        case .pullResponse(let response):
            guard envelope.requesterEpoch == target.epoch else { return count("stale response") }
            _ = try? target.store.write { tx in
                try engine.apply(response, from: envelope.from.rawValue, originKeys: { self.originKeys($0, at: target.id) }, physicalNow: physical(target), in: tx)
            }
        }
    }

    /// The jurisdiction `receiver` grants `sender` (a node's grants may be stale; the hub's are the truth).
    func peer(_ sender: ReplicaID, as receiver: ReplicaID) -> Peer {
        let jurisdiction = receiver.kind == .hub ? enrolment[sender]! : (nodeGrants[sender] ?? enrolment[sender]!)
        return Peer(replica: sender, jurisdiction: jurisdiction)
    }

    func authorityView(of origin: ReplicaID, at receiver: ReplicaID) -> Jurisdiction? {
        receiver.kind == .hub ? enrolment[origin] : (nodeGrants[origin] ?? enrolment[origin])
    }

    func startPush(_ replica: Replica, to upstream: ReplicaID) {
        guard let request = try? replica.store.read({ tx in try engine.nextPush(limit: 8, in: tx) }) else { return }
        log("\(replica.id) pushes \(request.changes.count) to \(upstream)")
        send(.pushRequest(request), from: replica.id, to: upstream, requesterEpoch: replica.epoch)
    }

    func startPull(_ replica: Replica, from upstream: ReplicaID) {
        guard let cursor = try? replica.store.read({ tx in try tx.checkpoint(peer: upstream.rawValue) }) else { return }
        log("\(replica.id) pulls from \(upstream) after \(cursor)")
        send(.pullRequest(PullRequest(puller: replica.id, after: cursor, limit: 16)), from: replica.id, to: upstream, requesterEpoch: replica.epoch)
    }

    // MARK: - Quiescence

    /// Heals every link, stops faults and edits, and syncs bottom-up then top-down until nothing moves.
    func quiesce() throws {
        isolated.removeAll()
        queue.removeAll()
        for id in order { replicas[id]!.downUntil = -1 }
        for _ in 0..<6 {
            var moved = false
            for id in order where id.kind == .patrol { moved = try drainPush(replicas[id]!, to: replicas[id]!.upstreams[0]) || moved }
            for id in order where id.kind == .node { moved = try drainPush(replicas[id]!, to: hubID) || moved }
            for id in order where id.kind == .node { moved = try drainPull(replicas[id]!, from: hubID) || moved }
            for id in order where id.kind == .patrol { moved = try drainPull(replicas[id]!, from: replicas[id]!.upstreams[0]) || moved }
            if !moved { return }
        }
    }

    func drainPush(_ replica: Replica, to upstream: ReplicaID) throws -> Bool {
        var moved = false
        let receiver = replicas[upstream]!
        while let request = try replica.store.read({ tx in try engine.nextPush(in: tx) }) {
            let response = try receiver.store.write { tx in
                try engine.receive(request, from: peer(replica.id, as: upstream), originJurisdiction: { self.authorityView(of: $0, at: upstream) },
                                   originKeys: { self.originKeys($0, at: upstream) }, physicalNow: physical(receiver), in: tx)
            }
            _ = try replica.store.write { tx in try engine.handle(response, in: tx) }
            moved = true
        }
        return moved
    }

    func drainPull(_ replica: Replica, from upstream: ReplicaID) throws -> Bool {
        var moved = false
        let server = replicas[upstream]!
        while true {
            let cursor = try replica.store.read { tx in try tx.checkpoint(peer: upstream.rawValue) }
            let response = try server.store.read { tx in
                try engine.servePull(PullRequest(puller: replica.id, after: cursor, limit: 200), for: peer(replica.id, as: upstream), in: tx)
            }
            let summary = try replica.store.write { tx in
                try engine.apply(response, from: upstream.rawValue, originKeys: { self.originKeys($0, at: replica.id) }, physicalNow: physical(replica), in: tx)
            }
            if summary.applied > 0 || summary.confirmedAtCounty > 0 || !summary.rejectedByCounty.isEmpty { moved = true }
            if !response.more { return moved }
        }
    }

    // MARK: - Checks

    /// Every replica's digest over its jurisdiction, and the hub's over the same.
    public func digests() throws -> [(replica: ReplicaID, own: String, hub: String)] {
        let hub = replicas[hubID]!
        return try order.map { id in
            let replica = replicas[id]!
            let own = try replica.store.read { tx in try engine.digest(of: replica.jurisdiction, in: tx) }
            let atHub = try hub.store.read { tx in try engine.digest(of: replica.jurisdiction, in: tx) }
            return (id, own, atHub)
        }
    }

    func checkAll() -> [String] {
        var problems: [String] = []
        do {
            for digest in try digests() where digest.own != digest.hub {
                problems.append("\(digest.replica) digest \(digest.own.prefix(12)) differs from the hub's \(digest.hub.prefix(12)) over its scope")
            }
            problems += try checkExactlyOnce()
            problems += try checkNothingVanished()
            problems += try checkModel()
            problems += try checkOracle()
            problems += checkNoForgery()
            problems += checkCheckpoints()
        } catch {
            problems.append("check failed to run: \(error)")
        }
        return problems
    }

    func contents(_ id: ReplicaID) -> InMemorySyncStore.Contents { replicas[id]!.store.snapshot() }

    /// Every change the hub accepted is in the hub's log once, and at every replica whose scope holds it, once.
    func checkExactlyOnce() throws -> [String] {
        var problems: [String] = []
        let hubLog = contents(hubID).log
        let ids = hubLog.map(\.change.id)
        if Set(ids).count != ids.count { problems.append("the hub's log holds a change twice") }
        for id in order where id != hubID {
            let replica = replicas[id]!
            let log = contents(id).log
            let have = Dictionary(grouping: log, by: \.change.id)
            for (changeID, entries) in have where entries.count > 1 { problems.append("\(id) logged \(changeID) \(entries.count) times") }
            for entry in hubLog where replica.jurisdiction.covers(entry.change.scope) && enrolmentCovers(id, entry.change.scope) {
                guard let mine = have[entry.change.id]?.first else {
                    problems.append("\(id) lacks \(entry.change.id) accepted by the hub")
                    continue
                }
                if mine.delivery == .rejected { problems.append("\(id) holds \(entry.change.id) as rejected (\(mine.rejection?.description ?? "")), but the hub accepted it") }
            }
        }
        return problems
    }

    /// Whether the replica can receive a change in `scope` from somewhere (a patrol's stale village is
    /// served by its node only).
    func enrolmentCovers(_ id: ReplicaID, _ scope: DivisionCode) -> Bool {
        id.kind != .patrol || nodeGrants[id]!.covers(scope)
    }

    /// Every change any replica recorded is, at its origin, either confirmed at the county or kept as
    /// rejected with a reason; and the hub accepted or refused each, never both.
    func checkNothingVanished() throws -> [String] {
        var problems: [String] = []
        let hub = contents(hubID)
        let accepted = Set(hub.log.map(\.change.id))
        for id in created.keys.sorted() {
            let origin = contents(id.origin)
            guard let entry = origin.logIndex[id].map({ origin.log[$0] }) else {
                problems.append("\(id) vanished from its origin")
                continue
            }
            switch entry.delivery {
            case .atCounty:
                if !accepted.contains(id) { problems.append("\(id) is marked at the county, but the hub does not hold it") }
            case .rejected:
                if entry.rejection == nil { problems.append("\(id) is rejected without a reason") }
                if accepted.contains(id) { problems.append("\(id) is rejected at its origin, but the hub accepted it") }
            default:
                problems.append("\(id) is still \(entry.delivery.rawValue) at its origin after quiescence")
            }
        }
        return problems
    }

    /// Model check: a naive fold of the hub's accepted changes in a shuffled order gives the same
    /// state, and a naive conflict finder finds the same open conflicts as the engine.
    func checkModel() throws -> [String] {
        var problems: [String] = []
        let hub = contents(hubID)
        var shuffler = SplitMix64(seed: configuration.seed ^ 0x5EED)
        let changes = hub.log.map(\.change).shuffled(using: &shuffler)
        var states: [RecordKey: RecordState] = [:]
        for change in changes {
            guard let key = change.key else { continue }
            // The same merge code as the engine, fault included: this check is about order, not rules.
            if states[key] == nil { states[key] = RecordState(first: change, key: key) } else { states[key]!.apply(change, fault: configuration.mergeFault) }
        }
        let county = enrolment[hubID]!
        let hubDigest = try replicas[hubID]!.store.read { tx in try engine.digest(of: county, in: tx) }
        if StateDigest.of(Array(states.values)) != hubDigest { problems.append("folding the hub's changes in another order gives another state") }
        // Naive conflicts: heads are writes no other write of the field builds on.
        var expected: Set<String> = []
        let byRecord = Dictionary(grouping: changes.filter { $0.key != nil }, by: { $0.key! })
        for (key, recordChanges) in byRecord {
            let fields = Set(recordChanges.flatMap { $0.fields.keys })
            for field in fields {
                let rule = RuleBook.rule(for: key.type, field: field)
                guard rule == .lastWriterWins || rule == .workflow || rule == .immutable else { continue }
                let writes = recordChanges.filter { change in
                    if case .set = change.fields[field] { return Admission.mayWrite(field: field, rule: rule, type: key.type, change: change) }
                    return false
                }
                let touching = recordChanges.filter { $0.fields[field] != nil }
                let heads = writes.filter { write in !touching.contains { $0.base.contains(write.id) } }
                func value(_ change: Change) -> JSONValue { if case .set(let v) = change.fields[field] { v } else { .null } }
                if rule == .workflow {
                    let values = heads.compactMap { WorkflowValue(value($0)) }
                    let round = values.map(\.round).max() ?? 0
                    let lines = Set(values.filter { $0.round == round }.compactMap(\.line))
                    if lines.count == 2 { expected.insert("\(key)/\(field)") }
                } else if Set(heads.map(value)).count > 1 {
                    expected.insert("\(key)/\(field)")
                }
            }
        }
        let actual = Set(try replicas[hubID]!.store.read { tx in try engine.conflicts(in: county, in: tx) }.filter { $0.status == .open }.map { "\($0.record)/\($0.field)" })
        for missing in expected.subtracting(actual).sorted() { problems.append("conflict on \(missing) was called for but not recorded") }
        for extra in actual.subtracting(expected).sorted() { problems.append("conflict on \(extra) was recorded but not called for") }
        counters["conflicts"] = actual.count
        return problems
    }

    /// A checkpoint never runs ahead of the data it covers: every upstream entry at or before a
    /// replica's cursor, in its scope and not its own, is in the replica's log.
    func checkCheckpoints() -> [String] {
        var problems: [String] = []
        for id in order where id != hubID {
            let replica = replicas[id]!
            let mine = contents(id)
            for upstream in replica.upstreams {
                let cursor = mine.checkpoints[upstream.rawValue] ?? 0
                let theirs = contents(upstream)
                let grant = peer(id, as: upstream).jurisdiction
                for entry in theirs.log.prefix(Int(min(cursor, UInt64(theirs.log.count))))
                where entry.delivery != .rejected && entry.change.origin != id && grant.covers(entry.change.scope) {
                    if mine.logIndex[entry.change.id] == nil {
                        problems.append("\(id)'s checkpoint \(cursor) at \(upstream) passed \(entry.change.id) (seq \(entry.seq)), which it does not hold")
                    }
                }
            }
        }
        return problems
    }
}
