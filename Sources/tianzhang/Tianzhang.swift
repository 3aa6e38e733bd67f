import ArgumentParser

@main
struct Tianzhang: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tianzhang",
        abstract: "Offline-first sync for farmland-protection field work (田长).",
        subcommands: [DemoCommand.self, SeedCommand.self, HubCommand.self, NodeCommand.self, SummaryCommand.self, SimulateCommand.self, BenchCommand.self, BenchCompareCommand.self, BenchAdmissionCommand.self, BenchHistoryCommand.self, PatrolCommand.self])
}
