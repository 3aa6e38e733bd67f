import Foundation
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
    /// Per tick, probability that a random device's or node's clock jumps hours ahead or behind (or is
    /// set right again).
    public var clockJump: Double
    /// Whether nodes' clocks jump too (off by default: a node whose clock jumps *after* its last `hello`
    /// passes the wrong time on to its patrols until its next one, and their changes stamped ahead then
    /// wait at the node, `clock_ahead`, until the county's time catches up: SPEC §2.4 "what it does not
    /// promise"; `tianzhang simulate --node-clock-jumps` shows it).
    public var nodeClockJumps = false
    /// Whether township nodes' stores are restored from backups too (off by default: `tianzhang simulate
    /// --seed 0 --count 40 --restore-rate 0.006 --node-restores` still fails 6 of 40 seeds — a node's own
    /// changes lost with its store that only its patrols hold, relayed changes refused
    /// `conflicting_change_id`; docs/notes.md, session 6).
    public var nodeRestores = false
    /// The share of device restores its operator marks restored (`tianzhang node restored`); the rest
    /// are silent (commits lost to a power failure).
    public var restoreMarked = 0.5
    /// Per tick, probability that a random device takes a backup of its store; and that one is restored
    /// from its backup (losing what it did since), half the time marked restored by its operator.
    /// Device restores are on by default (0.006 a tick: a few a run), half of them marked by their
    /// operator; the restore tests with real processes (ClockAndRestoreTests) cover the operator's path.
    public var backup: Double
    public var restore: Double

    public init(drop: Double = 0.1, duplicate: Double = 0.05, delayTicksMax: Int = 6, partition: Double = 0.02, heal: Double = 0.03, crash: Double = 0.01, crashTicks: Int = 15,
                clockJump: Double = 0.01, backup: Double = 0.02, restore: Double = 0.006) {
        self.drop = drop
        self.duplicate = duplicate
        self.delayTicksMax = delayTicksMax
        self.partition = partition
        self.heal = heal
        self.crash = crash
        self.crashTicks = crashTicks
        self.clockJump = clockJump
        self.backup = backup
        self.restore = restore
    }

    public static let none = SimulationFaults(drop: 0, duplicate: 0, delayTicksMax: 1, partition: 0, heal: 1, crash: 0, clockJump: 0, backup: 0, restore: 0)
}

public struct SimulationConfiguration: Sendable {
    public var seed: UInt64
    public var townships: Int
    public var patrolsPerTownship: Int
    public var ticks: Int
    /// Per tick and replica: probability of an offline edit; of starting a sync (when none is running).
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
/// Every replica syncs with the shipped `SyncSession` (hello, uploads, push, pull, retries) and every
/// receiver answers with the shipped `SyncService`, over a simulated network that delays, reorders,
/// drops, repeats and partitions; processes crash, clocks jump hours, stores are restored from old
/// backups, photos (some the same bytes on two devices) go up in chunks, hostile replicas forge.
/// Everything random comes from one `SplitMix64`; the scheduler runs one task at a time (see
/// `SimulatedNetwork`); calls are delivered by `(tick, order)`. The same seed replays the same run.
public final class Simulation: @unchecked Sendable {
    final class Replica: @unchecked Sendable {
        let id: ReplicaID
        /// What the replica itself believes it may write (its own meta).
        let jurisdiction: Jurisdiction
        var store: InMemorySyncStore
        let upstreams: [ReplicaID]
        /// Device clock error in milliseconds (negative: behind); it may jump during the run.
        var clockSkew: Int64
        var downUntil = -1
        /// The process generation: a crash or a restore starts a new one, ending the old one's session.
        var epoch = 0
        /// The folder of its attachment vault (it survives crashes and restores).
        let vault: URL
        /// An earlier copy of its store, to restore from.
        var backup: InMemorySyncStore?

        init(id: ReplicaID, jurisdiction: Jurisdiction, upstreams: [ReplicaID], clockSkew: Int64, vault: URL) {
            self.id = id
            self.jurisdiction = jurisdiction
            self.store = InMemorySyncStore()
            self.upstreams = upstreams
            self.clockSkew = clockSkew
            self.vault = vault
        }
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
    /// Who holds each credential, and each replica's credential and public key (derived once).
    var credentialOwners: [String: ReplicaID] = [:]
    var credentials: [ReplicaID: String] = [:]
    var publicKeys: [ReplicaID: String] = [:]
    let network = SimulatedNetwork()
    var inFlight: [InFlight] = []
    var replays: [Replay] = []
    var nextOrder = 0
    /// Replicas whose session is running.
    var active: Set<ReplicaID> = []
    var currentFaults: SimulationFaults
    var isolated: Set<ReplicaID> = []
    var tick = 0
    let baseTime: Int64 = 1_763_884_800_000  // 2025-11-23T08:00:00Z
    /// Where the replicas' vaults are (removed at the end of `run`).
    let folder: URL
    public private(set) var trace: [String] = []
    public var tracing = false
    /// Every change any replica recorded, by id (the first content made under each id).
    var created: [ChangeID: Change] = [:]
    /// Changes that reached a server in a push (what an eavesdropper or a relay could have kept to
    /// replay): a hostile replica replays only these, as a real one could.
    var onWire: [ChangeID: Change] = [:]
    /// Changes made under an id another change of the same origin had already used (after a restore).
    var createdAgain: [ChangeID: [Change]] = [:]
    public private(set) var counters: [String: Int] = [:]
    /// Each replica's last finished sync, and the tick of its last `hello` answered.
    var lastReport: [ReplicaID: SyncReport] = [:]
    var lastHello: [ReplicaID: Int] = [:]
    /// When each replica's clock last jumped.
    var clockChangedAt: [ReplicaID: Int] = [:]
    /// Changes stamped after their replica had learnt the county's time on its current clock: none of
    /// them may be refused `clock_ahead`.
    var stampedInCountyTime: Set<ChangeID> = []
    /// "old → new" for changes recorded again after a restore (from the sessions' findings).
    var renumbered: [String] = []
    /// The bytes of the photos the run takes (some taken twice, on two devices).
    var photoBytes: [String: Data] = [:]
    /// Attachment digests photographed by more than one replica.
    var sharedPhotos: Set<String> = []
    /// Changes their origin made after the backup it was later restored from.
    var lostToRestore: Set<ChangeID> = []
    /// Changes their origin took out of its log and recorded again under a new seq.
    var recordedAgain: Set<ChangeID> = []

    public init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
        currentFaults = configuration.faults
        var engineConfiguration = SyncEngine.Configuration()
        engineConfiguration.mergeFault = configuration.mergeFault
        engine = SyncEngine(configuration: engineConfiguration)
        rng = SplitMix64(seed: configuration.seed)
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-sim-\(configuration.seed)-\(UUID().uuidString)")
        let county = try! DivisionCode("371312")
        hubID = ReplicaID(kind: .hub, name: county.rawValue)
        add(hubID, jurisdiction: .county(county), upstreams: [], clockSkew: 0)
        enrolment[hubID] = .county(county)
        let townshipSuffixes = ["001", "004", "005", "006", "007", "008"]
        for t in 0..<configuration.townships {
            let township = try! DivisionCode("371312" + townshipSuffixes[t % townshipSuffixes.count])
            let node = ReplicaID(kind: .node, name: township.rawValue)
            add(node, jurisdiction: .township(township), upstreams: [hubID], clockSkew: 0)
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
                // The last patrol of the second township is enrolled with the county hub directly.
                let direct = t == 1 && p == configuration.patrolsPerTownship - 1 && p > 0
                add(patrol, jurisdiction: .villages(granted), upstreams: [direct ? hubID : node], clockSkew: skew)
                enrolment[patrol] = .villages([village])
                nodeGrants[patrol] = .villages(granted)
            }
        }
        for id in order {
            let replica = replicas[id]!
            credentialOwners[Self.credential(id)] = id
            credentials[id] = Self.credential(id)
            publicKeys[id] = ChangeSigning.publicKey(fromCredential: Self.credential(id))
            _ = try! replica.store.write { tx in try engine.open(replica: id, jurisdiction: replica.jurisdiction, credential: Self.credential(id), in: tx) }
        }
        seedParcels()
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    static let hubCredential = "sim-credential-hub:371312"

    /// The credential the county issued each simulated replica (its signing key derives from it); it
    /// carries the county's public key, as real credentials do.
    static func credential(_ id: ReplicaID) -> String {
        id.kind == .hub ? hubCredential : Credential.issue(secret: "sim-credential-\(id.rawValue)", hubPublicKey: hubPublicKey)
    }

    static let hubPublicKey = ChangeSigning.publicKey(fromCredential: hubCredential)

    /// What `receiver` knows of an origin's keys: the hub, every enrolled replica's; a node, its
    /// patrols' (from enrolment records) and the hub's; a patrol, the hub's.
    func originKeys(_ origin: ReplicaID, at receiver: ReplicaID) -> OriginKeys {
        let known: Bool
        switch receiver.kind {
        case .hub: known = enrolment[origin] != nil
        case .node: known = origin.kind == .hub || (origin.kind == .patrol && nodeGrants[origin] != nil)
        case .patrol: known = origin.kind == .hub
        }
        if known, let key = publicKeys[origin] { return .keys([key]) }
        return receiver.kind == .hub || origin.kind == .patrol ? .unknown : .notChecked
    }

    func add(_ id: ReplicaID, jurisdiction: Jurisdiction, upstreams: [ReplicaID], clockSkew: Int64) {
        let vault = folder.appendingPathComponent(id.rawValue.replacingOccurrences(of: ":", with: "_"))
        replicas[id] = Replica(id: id, jurisdiction: jurisdiction, upstreams: upstreams, clockSkew: clockSkew, vault: vault)
        order.append(id)
    }

    func physical(_ replica: Replica) -> Int64 { baseTime + Int64(tick) * 1_000 + replica.clockSkew }

    func log(_ text: @autoclosure () -> String) {
        if tracing { trace.append("t=\(tick) \(text())") }
    }

    func count(_ key: String) { counters[key, default: 0] += 1 }

    // MARK: - Running

    /// Runs the faulty phase, then heals everything and syncs until quiet, then checks.
    /// - Throws: `SimulationFailure` listing every broken property.
    public func run() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        for _ in 0..<configuration.ticks {
            await step()
            if tick % 50 == 0 {
                let problems = checkCheckpoints()
                if !problems.isEmpty { throw SimulationFailure(seed: configuration.seed, problems: problems) }
            }
        }
        let quiet = await quiesce()
        for id in order { registerRecordedAgain(by: replicas[id]!) }
        let problems = quiet + checkAll()
        if !problems.isEmpty { throw SimulationFailure(seed: configuration.seed, problems: problems) }
    }

    func step() async {
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
        let belowCounty = order.filter { $0 != hubID }
        if rng.chance(faults.clockJump), let victim = pick(belowCounty.filter { $0.kind == .patrol || faults.nodeClockJumps }).map({ replicas[$0]! }) {
            // Hours ahead or behind, or set right again.
            let hours = Int64(rng.next() % 17) - 8
            victim.clockSkew = hours * 3_600_000 + Int64(rng.next() % 60) * 1_000
            clockChangedAt[victim.id] = tick
            count("clock jumps")
            log("clock of \(victim.id) now \(victim.clockSkew / 60_000) min off")
        }
        let restorable = belowCounty.filter { $0.kind == .patrol || faults.nodeRestores }
        if rng.chance(faults.backup), let replica = pick(restorable).map({ replicas[$0]! }) {
            replica.backup = InMemorySyncStore(copying: replica.store)
            log("backup of \(replica.id)")
        }
        if rng.chance(faults.restore), let victim = pick(restorable.filter { replicas[$0]!.backup != nil }).map({ replicas[$0]! }) {
            restore(victim)
        }
        for id in order {
            let replica = replicas[id]!
            guard replica.downUntil < tick else { continue }
            if rng.chance(configuration.editRate) { edit(replica) }
            if rng.chance(configuration.hostility) { attack(replica) }
            if let upstream = replica.upstreams.first, !active.contains(id), rng.chance(configuration.syncRate) {
                await startSession(replica, with: upstream)
            }
        }
        await deliverDue()
    }

    /// Puts an earlier copy of a store back (an operator's restore, or commits lost to a power
    /// failure), with a new process; half the time the operator marks the store restored.
    func restore(_ victim: Replica) {
        guard let backup = victim.backup else { return }
        registerRecordedAgain(by: victim)
        let kept = Set(backup.snapshot().logIndex.keys)
        lostToRestore.formUnion(created.keys.filter { $0.origin == victim.id && !kept.contains($0) })
        victim.store = InMemorySyncStore(copying: backup)
        victim.epoch += 1
        victim.downUntil = tick + 2
        // A node that serves patrols is restored by its operator, who marks it restored (docs/operations.md):
        // its patrols then pull again. A device may also lose its last commits (a power failure), unmarked.
        // (A server restored unmarked can hand out log positions again that a puller already passed; not
        // detected yet: see docs/notes.)
        if victim.id.kind == .node || rng.chance(configuration.faults.restoreMarked) { _ = try? victim.store.write { tx in try engine.markRestored(in: tx) } }
        count("restores")
        log("restore \(victim.id) from its backup")
    }

    /// The jurisdiction `receiver` grants `sender` (a node's grants may be stale; the hub's are the truth).
    func peer(_ sender: ReplicaID, as receiver: ReplicaID) -> Peer {
        let jurisdiction = receiver.kind == .hub ? enrolment[sender]! : (nodeGrants[sender] ?? enrolment[sender]!)
        return Peer(replica: sender, jurisdiction: jurisdiction)
    }

    func authorityView(of origin: ReplicaID, at receiver: ReplicaID) -> Jurisdiction? {
        receiver.kind == .hub ? enrolment[origin] : (nodeGrants[origin] ?? enrolment[origin])
    }

    // MARK: - Quiescence

    /// Heals every link, stops faults and edits, lets running sessions end, then syncs every replica
    /// bottom-up then top-down with its own session until nothing moves.
    /// - Returns: problems (a session that fails with no faults left).
    func quiesce() async -> [String] {
        isolated.removeAll()
        currentFaults = .none
        for id in order { replicas[id]!.downUntil = -1 }
        var waited = 0
        while !active.isEmpty || !inFlight.isEmpty || !replays.isEmpty {
            tick += 1
            waited += 1
            await deliverDue()
            if waited > 10_000 { return ["sessions still running after 10,000 ticks of quiet: \(active.sorted())"] }
        }
        var problems: [String] = []
        for _ in 0..<8 {
            var moved = false
            for kind in [ReplicaID.Kind.patrol, .node, .node, .patrol] {
                for id in order where id.kind == kind {
                    let (didMove, problem) = await syncToEnd(replicas[id]!)
                    moved = moved || didMove
                    if let problem { problems.append(problem) }
                }
            }
            if !moved { return problems }
        }
        return problems + ["the replicas still exchange changes after 8 rounds of quiet"]
    }

    /// Runs one session of `replica` to its end with no faults.
    /// - Returns: whether it moved anything, and a problem if it failed.
    func syncToEnd(_ replica: Replica) async -> (moved: Bool, problem: String?) {
        guard let upstream = replica.upstreams.first else { return (false, nil) }
        lastReport[replica.id] = nil
        await startSession(replica, with: upstream)
        while active.contains(replica.id) {
            tick += 1
            await deliverDue()
        }
        guard let report = lastReport[replica.id] else { return (false, "\(replica.id)'s sync failed with no faults left") }
        let moved = report.sent > 0 || report.received > 0 || report.attachmentsUploaded > 0 || report.confirmedAtCounty > 0 || report.recovery != nil
        return (moved, nil)
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
                problems.append("\(digest.replica) digest \(digest.own.prefix(12)) differs from the hub's \(digest.hub.prefix(12)) over its scope (\(differingRecords(digest.replica)))")
            }
            problems += try checkExactlyOnce()
            problems += try checkNothingVanished()
            problems += try checkModel()
            problems += try checkOracle()
            problems += checkNoForgery()
            problems += checkCheckpoints()
            problems += checkClocks()
            problems += checkPhotos()
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

    /// The records a replica holds otherwise than the hub, for failure messages.
    func differingRecords(_ id: ReplicaID) -> String {
        let mine = contents(id).records, hub = contents(hubID).records
        let scope = replicas[id]!.jurisdiction
        let keys = Set(mine.keys).union(hub.keys.filter { scope.covers(hub[$0]!.scope) }).sorted()
        let differing = keys.filter { key in
            mine[key].map { StateDigest.of([$0]) } != hub[key].map { StateDigest.of([$0]) }
        }
        return differing.prefix(3).map { key in
            func held(_ replica: ReplicaID) -> Set<ChangeID> { Set(contents(replica).log.map(\.change).filter { $0.key == key }.map(\.id)) }
            let own = held(id), county = held(hubID)
            let missing = county.subtracting(own)
            return "\(key): \(own.count) changes here, \(county.count) at the hub, missing \(missing.sorted().prefix(4).map(\.description))"
        }.joined(separator: "; ")
    }

    /// Where a change is held, for failure messages: "node:…=pending, hub:…=at_county".
    func whereHeld(_ id: ChangeID) -> String {
        let held = order.compactMap { replica -> String? in
            let contents = contents(replica)
            return contents.logIndex[id].map { "\(replica)=\(contents.log[$0].delivery.rawValue)" }
        }
        return held.isEmpty ? "held nowhere" : held.joined(separator: ", ")
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
                // Made after the backup its origin was restored from, and never sent anywhere: gone with
                // the restore (what a restore means), unless the hub has it (then the origin must recover it).
                if (lostToRestore.contains(id) || recordedAgain.contains(id)) && !accepted.contains(id) { continue }
                problems.append("\(id) vanished from its origin (\(whereHeld(id)))")
                continue
            }
            switch entry.delivery {
            case .atCounty:
                if !accepted.contains(id) { problems.append("\(id) is marked at the county, but the hub does not hold it") }
            case .rejected:
                if entry.rejection == nil { problems.append("\(id) is rejected without a reason") }
                if accepted.contains(id) { problems.append("\(id) is rejected at its origin, but the hub accepted it") }
            default:
                problems.append("\(id) is still \(entry.delivery.rawValue) at its origin after quiescence (\(whereHeld(id)))")
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
                // SPEC §2.5: a write is a head unless another write of the field covers it. Version 1 asked
                // only whether a base named it; where the two differ (a change delivered after a later one
                // of its origin that some write built on) is counted, and printed with SIM_DEBUG.
                let heads = writes.filter { write in !writes.contains { MergeOracle.covers($0, write) } }
                let named = writes.filter { write in !touching.contains { $0.base.contains(write.id) } }
                for lost in named where !heads.contains(where: { $0.id == lost.id }) {
                    let by = writes.first { MergeOracle.covers($0, lost) }!
                    let how = by.id.origin == lost.id.origin ? "its own origin's later write" : "a base naming a later change of its origin"
                    counters["superseded by causal order, named in no base", default: 0] += 1
                    if ProcessInfo.processInfo.environment["SIM_DEBUG"] != nil { print("\(key)/\(field): \(lost.id) covered by \(by.id), base \(by.base) (\(how))") }
                }
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
                for entry in theirs.log.prefix(while: { $0.seq <= cursor })
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
