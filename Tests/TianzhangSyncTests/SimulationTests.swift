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
    @Test("replicas running the shipped sync session converge under drops, duplicates, reordering, partitions, crashes, device clock jumps, devices restored from backups, shared photos and hostile peers", arguments: simulationSeeds)
    func replicasConverge(seed: UInt64) async throws {
        let world = Simulation(SimulationConfiguration(seed: seed))
        do {
            try await world.run()
        } catch let failure as SimulationFailure {
            Issue.record("\(failure)")
            return
        }
        let digests = try world.digests()
        #expect(digests.allSatisfy { $0.own == $0.hub }, "replay: SIM_SEED=\(seed) swift test --filter replicasConverge")
        #expect(world.counters["edits", default: 0] > 20, "the run must actually edit (seed \(seed))")
    }

    @Test("the same seed replays the same run")
    func sameSeedSameRun() async throws {
        let first = Simulation(SimulationConfiguration(seed: 42))
        first.tracing = true
        try await first.run()
        let second = Simulation(SimulationConfiguration(seed: 42))
        second.tracing = true
        try await second.run()
        #expect(first.trace == second.trace)
        #expect(first.trace.count > 100)
        #expect(try first.digests().map(\.own) == second.digests().map(\.own))
    }

    @Test("the faults actually happen")
    func faultsHappen() async throws {
        var totals: [String: Int] = [:]
        for seed in UInt64(0)..<20 {
            let world = Simulation(SimulationConfiguration(seed: seed))
            try await world.run()
            for (key, value) in world.counters { totals[key, default: 0] += value }
        }
        for fault in ["crash", "lost on the way", "answer lost", "duplicated", "replayed", "conflicts", "refused locally", "clock jumps", "photos", "shared photos", "syncs", "changes recorded again", "restores", "recoveries"] {
            #expect(totals[fault, default: 0] > 0, "no \(fault) in 20 seeds: \(totals)")
        }
    }

    @Test("a deliberately broken merge (last arrival wins) is caught")
    func brokenMergeIsCaught() async throws {
        var caught = 0
        for seed in UInt64(0)..<20 {
            let world = Simulation(SimulationConfiguration(seed: seed, ticks: 800, editRate: 0.4, mergeFault: .lastArrivalWins))
            do { try await world.run() } catch is SimulationFailure { caught += 1 }
        }
        #expect(caught >= 15, "the broken merge slipped through \(20 - caught) of 20 seeds")
    }

    /// A merge that is wrong the same way everywhere (last writer wins keeping the *older* write)
    /// converges: every digest agrees, and re-folding in another order agrees. Only the oracle, written
    /// from CONFLICTS.md apart from the merge code, sees it.
    @Test("a consistently wrong merge (LWW keeping the older write) is caught by the independent oracle, and only by it")
    func consistentlyWrongMergeIsCaught() async throws {
        var caught = 0
        for seed in UInt64(0)..<20 {
            let world = Simulation(SimulationConfiguration(seed: seed, ticks: 800, editRate: 0.4, mergeFault: .lwwKeepsOlder))
            do {
                try await world.run()
            } catch let failure as SimulationFailure {
                caught += 1
                #expect(failure.problems.allSatisfy { $0.hasPrefix("oracle:") }, "seed \(seed): a check other than the oracle failed: \(failure.problems.prefix(3))")
                #expect(try world.digests().allSatisfy { $0.own == $0.hub }, "seed \(seed): the wrong merge still converges")
            }
        }
        #expect(caught >= 15, "the consistently wrong merge slipped through \(20 - caught) of 20 seeds")
    }

    @Test("hostile acts happen and every one is refused: forged, replayed, ghost and squatted changes never get in")
    func hostileActsRefused() async throws {
        var totals: [String: Int] = [:]
        for seed in UInt64(0)..<10 {
            let world = Simulation(SimulationConfiguration(seed: seed))
            try await world.run()
            for (key, value) in world.counters where key.hasPrefix("hostile") { totals[key, default: 0] += value }
        }
        for act in ["hostile forge", "hostile replay", "hostile ghost", "hostile squat"] { #expect(totals[act, default: 0] > 5, "\(act): \(totals)") }
        for code in ["bad_signature", "unknown_origin", "missing_signature"] { #expect(totals["hostile refused \(code)", default: 0] > 0, "\(code): \(totals)") }
        #expect(totals["hostile got accepted", default: 0] + totals["hostile got merged", default: 0] == 0 || totals["hostile replay", default: 0] > 0,
                "only a replay of a real change may be taken (it is the origin's own): \(totals)")
    }
}
