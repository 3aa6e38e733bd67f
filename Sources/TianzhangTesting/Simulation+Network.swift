import Foundation
import Synchronization
import TianzhangDomain
import TianzhangStore
import TianzhangSync

/// The simulated network between the replicas' sync sessions and the scheduler that owns simulated
/// time. Every replica runs the shipped `SyncSession` in a task of its own; each call it makes (and
/// each backoff wait) parks the task here until the scheduler answers it at some later tick. The
/// scheduler hands control to one task at a time and waits until that task parks again or ends
/// (`handOver`), so however the runtime schedules threads, a seed replays the same run.
final class SimulatedNetwork: Sendable {
    enum Payload: Sendable {
        case call(ServiceCall)
        /// A session waiting before a retry, for this many ticks.
        case timer(Int)
    }

    /// A call as a session parked it.
    struct Parked: Sendable {
        var from: ReplicaID
        var to: ReplicaID
        /// The caller's process generation when it called (a crash ends the process).
        var epoch: Int
        var payload: Payload
        var continuation: CheckedContinuation<Result<ServiceAnswer, SyncClientError>, Never>
    }

    struct State {
        var parked: [Parked] = []
        var handBack: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Called by a session: parks its task until the scheduler answers.
    func call(from: ReplicaID, to: ReplicaID, epoch: Int, _ payload: Payload) async -> Result<ServiceAnswer, SyncClientError> {
        await withCheckedContinuation { continuation in
            let handBack = state.withLock { state in
                state.parked.append(Parked(from: from, to: to, epoch: epoch, payload: payload, continuation: continuation))
                defer { state.handBack = nil }
                return state.handBack
            }
            handBack?.resume()
        }
    }

    /// Called by a session's task as its last act.
    func ended() {
        state.withLock { state in
            defer { state.handBack = nil }
            return state.handBack
        }?.resume()
    }

    /// Runs `start` (which starts one task or resumes one parked call) and waits until that task has
    /// parked its next call or ended.
    /// - Returns: the calls parked meanwhile (at most one).
    func handOver(_ start: () -> Void) async -> [Parked] {
        await withCheckedContinuation { (handBack: CheckedContinuation<Void, Never>) in
            state.withLock { $0.handBack = handBack }
            start()
        }
        return state.withLock { state in
            defer { state.parked = [] }
            return state.parked
        }
    }
}

/// What a simulated replica's sync session asks of its replica: the in-memory store with its settings,
/// and the keys the simulation's county enrolled for the patrols it serves.
struct SimulatedHost: ReplicaHost {
    let store: InMemorySyncStore
    let keys: @Sendable (ReplicaID) -> OriginKeys

    var syncStore: any SyncStore { store }
    func setting(_ key: String) throws -> String? { store.setting(key) }
    func setSetting(_ key: String, _ value: String) throws { store.setSetting(key, value) }
    func narrow(to jurisdiction: Jurisdiction?, engine: SyncEngine) throws -> ScopeNarrowing { try store.narrow(to: jurisdiction, engine: engine) }
    func patrolKeys(of replica: ReplicaID) throws -> OriginKeys { keys(replica) }
}

extension Simulation {
    /// A call on its way: to the server (`answer == nil`), or its answer on the way back.
    struct InFlight {
        var deliverAt: Int
        var order: Int
        var parked: SimulatedNetwork.Parked
        var answer: Result<ServiceAnswer, SyncClientError>?
    }

    /// A copy of a request the network delivers again later (a proxy's retry); its answer goes nowhere.
    struct Replay {
        var deliverAt: Int
        var order: Int
        var from: ReplicaID
        var to: ReplicaID
        var call: ServiceCall
    }

    /// Ticks a caller waits for an answer that never comes before its transport gives up.
    static let timeoutTicks = 4

    /// The error a session's pending call ends with when its process crashed (not retryable: the
    /// session is over, as its process is).
    static let crashed = SyncClientError.tls(code: "simulated_crash", message: "the process crashed")

    /// The sync session `replica` runs with `upstream`: the shipped one, over the simulated network.
    func session(of replica: Replica, with upstream: ReplicaID) -> SyncSession {
        let network = self.network
        let from = replica.id, epoch = replica.epoch
        let transport = MessageTransport(credential: credentials[from]!) { call throws(SyncClientError) in
            try await network.call(from: from, to: upstream, epoch: epoch, .call(call)).get()
        }
        let host = SimulatedHost(store: replica.store) { [unowned self] origin in
            from.kind == .node ? self.originKeys(origin, at: from) : .unknown
        }
        var session = SyncSession(host: host, engine: engine, transport: transport, replica: from,
                                  vault: try? AttachmentVault(folder: replica.vault), clock: { [unowned self] in self.physical(replica) })
        session.batchChangesMax = 8
        session.pageChangesMax = 16
        session.retriesMax = 3
        session.countsBytes = false
        session.backoffFirst = .seconds(1)
        session.sleep = { duration in
            let ticks = max(1, Int(duration.components.seconds))
            _ = await network.call(from: from, to: from, epoch: epoch, .timer(ticks))
        }
        return session
    }

    /// What `target` serves: the shipped server side (`SyncService`) on its current store and vault.
    func service(at target: Replica) -> SyncService {
        let receiver = target.id
        let authority = CredentialAuthority(
            name: receiver.rawValue,
            enrolment: { [unowned self] secret in
                guard let id = self.credentialOwners[secret] else { return nil }
                if receiver.kind == .hub { return self.enrolment[id].map { Enrolment(replica: id, jurisdiction: $0, revoked: false) } }
                // A node serves the patrols enrolled with it.
                guard self.replicas[id]?.upstreams.first == receiver, let grant = self.nodeGrants[id] else { return nil }
                return Enrolment(replica: id, jurisdiction: grant, revoked: false)
            },
            originJurisdiction: { [unowned self] in self.authorityView(of: $0, at: receiver) },
            originKeys: { [unowned self] in self.originKeys($0, at: receiver) })
        return SyncService(store: target.store, attachments: target.vault, engine: engine, replica: receiver, authority: authority,
                           clock: { [unowned self] in self.physical(target) })
    }

    /// Starts `replica`'s session with `upstream` in a task of its own, and runs it to its first call.
    func startSession(_ replica: Replica, with upstream: ReplicaID) async {
        let session = session(of: replica, with: upstream)
        let id = replica.id
        active.insert(id)
        log("\(id) syncs with \(upstream)")
        let network = self.network
        let parked = await network.handOver {
            Task { [unowned self] in
                do {
                    let report = try await session.syncInScope()
                    self.finished(id, report: report)
                } catch {
                    self.finished(id, error: error)
                }
                network.ended()
            }
        }
        schedule(parked)
    }

    /// Records how a session ended.
    func finished(_ id: ReplicaID, report: SyncReport? = nil, error: (any Error)? = nil) {
        active.remove(id)
        registerRecordedAgain(by: replicas[id]!)
        if let report {
            count("syncs")
            lastReport[id] = report
            // The county's time it learnt is right if its upstream's was: the hub's, or a node's that had
            // learnt it since its own clock last jumped.
            if report.clock != nil, let upstream = replicas[id]!.upstreams.first,
               upstream == hubID || (lastHello[upstream] ?? -1) > (clockChangedAt[upstream] ?? -1) {
                lastHello[id] = tick
            }
            if report.recovery != nil { count("recoveries") }
            if !report.waiting.isEmpty { count("waiting for bytes") }
            renumbered += (report.recovery?.renumbered ?? []) + (report.clock?.restamped ?? [])
            if let again = report.recovery?.renumbered, !again.isEmpty { log("\(id) renumbered \(again)") }
            if let again = report.clock?.restamped { log("\(id) restamped \(again)") }
            if let findings = report.recovery { log("\(id) recovery: \(findings)") }
            log("\(id) synced: sent \(report.sent), received \(report.received), uploaded \(report.attachmentsUploaded)")
        } else if let error {
            if case .tls(let code, _) = error as? SyncClientError, code == "simulated_crash" { count("sessions ended by crash") } else { count("sessions failed") }
            log("\(id) sync ended: \(error)")
        }
    }

    /// Gives each newly parked call its delivery tick (faults decide how long the wire takes).
    func schedule(_ parked: [SimulatedNetwork.Parked]) {
        for call in parked {
            let delay: Int
            switch call.payload {
            case .timer(let ticks): delay = ticks
            case .call: delay = 1 + Int(rng.next() % UInt64(max(1, currentFaults.delayTicksMax)))
            }
            inFlight.append(InFlight(deliverAt: tick + delay, order: nextOrder, parked: call))
            nextOrder += 1
        }
    }

    /// Resumes a parked call with its answer and runs its session to its next call.
    func resume(_ call: SimulatedNetwork.Parked, with answer: Result<ServiceAnswer, SyncClientError>) async {
        let parked = await network.handOver { call.continuation.resume(returning: answer) }
        schedule(parked)
    }

    /// Delivers every call, answer, timer and replay due by now, in (tick, order).
    func deliverDue() async {
        while true {
            let due = inFlight.indices.filter { inFlight[$0].deliverAt <= tick }.min { (inFlight[$0].deliverAt, inFlight[$0].order) < (inFlight[$1].deliverAt, inFlight[$1].order) }
            let replay = replays.indices.filter { replays[$0].deliverAt <= tick }.min { (replays[$0].deliverAt, replays[$0].order) < (replays[$1].deliverAt, replays[$1].order) }
            if let replay, due == nil || (replays[replay].deliverAt, replays[replay].order) < (inFlight[due!].deliverAt, inFlight[due!].order) {
                let copy = replays.remove(at: replay)
                if let target = replicas[copy.to], target.downUntil < tick, !isolated.contains(copy.to), !isolated.contains(copy.from) {
                    _ = service(at: target).answer(copy.call, secret: credentials[copy.from])
                    count("replayed")
                }
                continue
            }
            guard let due else { return }
            await deliver(inFlight.remove(at: due))
        }
    }

    func deliver(_ flight: InFlight) async {
        var flight = flight
        let caller = replicas[flight.parked.from]!
        // A crashed process's calls end with it (its requests may still have reached their server).
        if flight.answer != nil || { if case .timer = flight.parked.payload { return true } else { return false } }() {
            guard flight.parked.epoch == caller.epoch else { return await resume(flight.parked, with: .failure(Self.crashed)) }
            return await resume(flight.parked, with: flight.answer ?? .failure(.transport("timer")))
        }
        guard case .call(let call) = flight.parked.payload else { return }
        let faults = currentFaults
        flight.deliverAt = tick + Self.timeoutTicks
        guard let target = replicas[flight.parked.to], target.downUntil < tick,
              !isolated.contains(flight.parked.from), !isolated.contains(flight.parked.to), !rng.chance(faults.drop)
        else {
            count("lost on the way")
            flight.answer = .failure(.transport("timed out: the request was lost"))
            inFlight.append(flight)
            return
        }
        let answer = service(at: target).answer(call, secret: credentials[flight.parked.from])
        if case .call(.push(let push)) = flight.parked.payload {
            count("pushes served")
            for change in push.changes where onWire[change.id] == nil { onWire[change.id] = change }
        }
        if rng.chance(faults.duplicate) {
            // The request arrives twice: a proxy repeats it later.
            replays.append(Replay(deliverAt: tick + 1 + Int(rng.next() % UInt64(max(1, faults.delayTicksMax * 3))), order: nextOrder, from: flight.parked.from, to: flight.parked.to, call: call))
            nextOrder += 1
            count("duplicated")
        }
        if rng.chance(faults.drop) {
            // The answer is lost: the server did the work, the caller times out and retries.
            count("answer lost")
            flight.answer = .failure(.transport("timed out: the answer was lost"))
        } else {
            flight.answer = answer
            flight.deliverAt = tick + 1 + Int(rng.next() % UInt64(max(1, faults.delayTicksMax)))
        }
        flight.order = nextOrder
        nextOrder += 1
        inFlight.append(flight)
    }
}
