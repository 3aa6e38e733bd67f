import ArgumentParser
import TianzhangTesting

/// `tianzhang simulate`: runs the deterministic many-replica simulation for one or more seeds.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the seeded simulation of a hub, township nodes and patrol devices under faults.",
        discussion: "A failing seed prints itself; the same seed always replays the same run.")

    @Option(help: "The first seed.") var seed: UInt64 = 0
    @Option(help: "How many consecutive seeds to run.") var count: Int = 1
    @Option(help: "Ticks of the faulty phase.") var ticks: Int = 400
    @Flag(help: "Print every event of the run (one seed).") var trace = false

    func run() throws {
        var failed: [UInt64] = []
        for seed in seed..<(seed + UInt64(max(1, count))) {
            let world = Simulation(SimulationConfiguration(seed: seed, ticks: ticks))
            world.tracing = trace
            do {
                try world.run()
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
