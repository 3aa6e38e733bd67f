import ArgumentParser

@main
struct Tianzhang: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tianzhang", abstract: "Offline-first farmland-protection sync.")
}
