import TianzhangDomain

/// A position fix from the device's GPS (or whatever the embedding app uses).
public struct LocationFix: Hashable, Sendable, Codable {
    public var position: Coordinate
    /// Horizontal accuracy in metres.
    public var accuracyMetres: Double

    public init(position: Coordinate, accuracyMetres: Double) {
        self.position = position
        self.accuracyMetres = accuracyMetres
    }
}

/// Where the device is. Injected, so tests and the terminal client give positions of their own.
public protocol LocationSource: Sendable {
    /// The current fix.
    /// - Throws: when no fix can be had (no satellites in view); the caller says so to the user.
    func currentFix() async throws -> LocationFix
}

/// A location source that always answers the same fix (tests; a terminal with `--lon/--lat`).
public struct FixedLocation: LocationSource {
    public var fix: LocationFix

    public init(_ fix: LocationFix) { self.fix = fix }
    public init(longitude: Double, latitude: Double, accuracyMetres: Double = 5) {
        fix = LocationFix(position: Coordinate(longitude: longitude, latitude: latitude), accuracyMetres: accuracyMetres)
    }

    public func currentFix() async throws -> LocationFix { fix }
}

/// A device with no position source at all: every call that needs one is told so.
public struct NoLocation: LocationSource {
    public init() {}
    public func currentFix() async throws -> LocationFix { throw PatrolError(.noLocation, "No position fix: give one explicitly (longitude, latitude, accuracy).") }
}
