import Foundation
import Testing
import TianzhangSync
import TianzhangTesting

/// Seeds run in CI. A failing seed prints itself; replay one with `SIM_SEED=N swift test --filter replicasConverge`.
let simulationSeeds: [UInt64] = {
    if let text = ProcessInfo.processInfo.environment["SIM_SEED"], let seed = UInt64(text) { return [seed] }
    return Array(0..<500)
}()

@Suite("Deterministic simulation")
struct SimulationTests {
    @Test("replicas converge under drops, duplicates, reordering, partitions and crashes", arguments: simulationSeeds)
    func replicasConverge(seed: UInt64) throws {
        let world = Simulation(SimulationConfiguration(seed: seed))
        do {
            try world.run()
        } catch let failure as SimulationFailure {
            Issue.record("\(failure)")
            return
        }
        let digests = try world.digests()
        #expect(digests.allSatisfy { $0.own == $0.hub }, "replay: SIM_SEED=\(seed) swift test --filter replicasConverge")
        #expect(world.counters["edits", default: 0] > 20, "the run must actually edit (seed \(seed))")
    }

    @Test("the same seed replays the same run")
    func sameSeedSameRun() throws {
        let first = Simulation(SimulationConfiguration(seed: 42))
        first.tracing = true
        try first.run()
        let second = Simulation(SimulationConfiguration(seed: 42))
        second.tracing = true
        try second.run()
        #expect(first.trace == second.trace)
        #expect(first.trace.count > 100)
        #expect(try first.digests().map(\.own) == second.digests().map(\.own))
    }

    @Test("the faults actually happen")
    func faultsHappen() throws {
        var totals: [String: Int] = [:]
        for seed in UInt64(0)..<20 {
            let world = Simulation(SimulationConfiguration(seed: seed))
            try world.run()
            for (key, value) in world.counters { totals[key, default: 0] += value }
        }
        for fault in ["crash", "dropped", "duplicated", "lost to partition", "conflicts", "refused locally"] {
            #expect(totals[fault, default: 0] > 0, "no \(fault) in 20 seeds: \(totals)")
        }
    }

    @Test("a deliberately broken merge (last arrival wins) is caught")
    func brokenMergeIsCaught() throws {
        var caught = 0
        for seed in UInt64(0)..<20 {
            let world = Simulation(SimulationConfiguration(seed: seed, ticks: 800, editRate: 0.4, mergeFault: .lastArrivalWins))
            do { try world.run() } catch is SimulationFailure { caught += 1 }
        }
        #expect(caught >= 15, "the broken merge slipped through \(20 - caught) of 20 seeds")
    }
}
