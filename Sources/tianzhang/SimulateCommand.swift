import ArgumentParser
import TianzhangTesting

/// `tianzhang simulate`: runs the deterministic many-replica simulation for one or more seeds.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the seeded simulation of a hub, township nodes and patrol devices under faults.",
        discussion: "A failing seed prints itself; the same seed always replays the same run.")

    @Option(help: "The first seed.") var seed: UInt64 = 0
    @Option(help: "How many consecutive seeds to run.") var count: Int = 1
    @Option(help: "Ticks of the faulty phase.") var ticks: Int = 400
    @Flag(help: "Print every event of the run (one seed).") var trace = false
    @Option(help: "Per tick, the probability that a store is restored from its backup.") var restoreRate: Double = SimulationFaults().restore
    @Option(help: "Per tick, the probability that a clock jumps hours.") var clockJumpRate: Double = SimulationFaults().clockJump
    @Flag(help: "Let township nodes' clocks jump too (not only devices').") var nodeClockJumps = false
    @Flag(help: "Restore township nodes' stores from backups too (not only devices').") var nodeRestores = false
    @Option(help: "The share of restores marked restored by their operator.") var restoreMarked: Double = SimulationFaults().restoreMarked

    func run() async throws {
        var failed: [UInt64] = []
        for seed in seed..<(seed + UInt64(max(1, count))) {
            var faults = SimulationFaults()
            faults.restore = restoreRate
            faults.clockJump = clockJumpRate
            faults.nodeClockJumps = nodeClockJumps
            faults.nodeRestores = nodeRestores
            faults.restoreMarked = restoreMarked
            let world = Simulation(SimulationConfiguration(seed: seed, ticks: ticks, faults: faults))
            world.tracing = trace
            do {
                try await world.run()
                let counters = world.counters.keys.sorted().map { "\($0)=\(world.counters[$0]!)" }.joined(separator: " ")
                print("seed \(seed): converged (\(counters))")
            } catch {
                failed.append(seed)
                print("seed \(seed): FAILED\n\(error)")
            }
            if trace { world.trace.forEach { print($0) } }
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }
}
