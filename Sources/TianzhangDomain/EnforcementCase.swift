/// Where a suspected violation was first seen (三位一体 and more).
public enum CaseSource: String, Codable, Sendable, CaseIterable {
    case satellite          // 卫片: a province-pushed satellite patch
    case drone              // 无人机
    case towerCamera        // 高空瞭望 / 铁塔视频
    case patrol             // 日常巡查
    case citizenReport      // 群众举报
    case inspectorate       // 督察
}

/// The kinds of illegal occupation of farmland the documents name.
public enum ViolationType: String, Codable, Sendable, CaseIterable {
    case houseOnFarmland        // 占用耕地建房
    case greenhouseHouse        // 大棚房
    case illegalVilla           // 违建别墅
    case soilExtraction         // 取土
    case wasteDumping           // 倾倒建筑垃圾
    case sandWashing            // 洗沙厂
    case nonAgriculturalUse     // 非农化
    case nonGrainUse            // 非粮化
    case abandonment            // 撂荒
    case other
}

/// The "three ones" (三个一) deadlines, all counted from discovery: report within 1 hour, be on site
/// within 1 hour, restore the land within one day and night (24 hours).
public struct ThreeOnesDeadlines: Hashable, Sendable, Codable {
    public var reportBy: Timestamp
    public var onSiteBy: Timestamp
    public var restoreBy: Timestamp

    public init(discoveredAt: Timestamp) {
        reportBy = discoveredAt.adding(hours: 1)
        onSiteBy = discoveredAt.adding(hours: 1)
        restoreBy = discoveredAt.adding(hours: 24)
    }

    /// The deadlines not yet met at `now` for a case in `status`, earliest first.
    public func overdue(at now: Timestamp, status: CaseStatus) -> [Deadline] {
        var result: [Deadline] = []
        if now > reportBy && status == .reported { result.append(.report) }
        if now > onSiteBy && status.stage < CaseStatus.verifying.stage { result.append(.onSite) }
        if now > restoreBy && status.isOpen && status.stage < CaseStatus.rectified.stage && status != .dismissed {
            result.append(.restore)
        }
        return result
    }

    public enum Deadline: String, Codable, Sendable { case report, onSite, restore }
}

/// An enforcement case (案件, 问题线索): one suspected violation followed to closure.
public struct EnforcementCase: Hashable, Sendable, Codable {
    public var id: RecordID
    public var source: CaseSource
    public var violation: ViolationType
    public var location: Coordinate
    public var township: DivisionCode
    public var village: DivisionCode?
    public var parcelIDs: [RecordID]
    public var affectedAreaMu: Double
    /// Person ids of the people working the case.
    public var assignees: [String]
    public var discoveredAt: Timestamp
    public var status: CaseStatus
    /// Starts at 1; each re-opening after a rebound starts a new round.
    public var round: Int
    public var summary: String

    public init(
        id: RecordID, source: CaseSource, violation: ViolationType, location: Coordinate, township: DivisionCode,
        village: DivisionCode?, parcelIDs: [RecordID] = [], affectedAreaMu: Double = 0, assignees: [String] = [],
        discoveredAt: Timestamp, status: CaseStatus = .reported, round: Int = 1, summary: String = ""
    ) {
        self.id = id
        self.source = source
        self.violation = violation
        self.location = location
        self.township = township
        self.village = village
        self.parcelIDs = parcelIDs
        self.affectedAreaMu = affectedAreaMu
        self.assignees = assignees
        self.discoveredAt = discoveredAt
        self.status = status
        self.round = round
        self.summary = summary
    }

    public var deadlines: ThreeOnesDeadlines { ThreeOnesDeadlines(discoveredAt: discoveredAt) }

    /// Checks codes, location and area.
    /// - Throws: `ValidationError` naming the field.
    public func validate() throws(ValidationError) {
        guard township.level == .township else {
            throw ValidationError(.wrongDivisionLevel, "A case's township must be a 9-digit township code, not \(township).", field: "township")
        }
        if let village {
            guard village.level == .village, township.contains(village) else {
                throw ValidationError(.invalidDivisionCode, "Village \(village) does not lie in township \(township).", field: "village")
            }
        }
        do { try location.validate() } catch { throw error.nested(under: "location") }
        guard affectedAreaMu.isFinite, affectedAreaMu >= 0 else {
            throw ValidationError(.invalidValue, "Affected area must be zero or more mu, not \(affectedAreaMu).", field: "affectedAreaMu")
        }
        guard round >= 1 else {
            throw ValidationError(.invalidValue, "A case's round starts at 1, not \(round).", field: "round")
        }
    }

    /// Moves the case along its workflow.
    /// - Throws: `IllegalTransition` saying which transition was refused and why.
    public mutating func transition(to next: CaseStatus, by role: ActorRole) throws(IllegalTransition) {
        try CaseWorkflow.check(from: status, to: next, by: role)
        if status == .closed && next == .reported { round += 1 }
        status = next
    }
}

extension Coordinate {
    /// Checks that the coordinate is finite and within ±180° longitude, ±90° latitude.
    /// - Throws: `ValidationError` (`invalid_geometry`).
    public func validate() throws(ValidationError) {
        guard longitude.isFinite, latitude.isFinite else {
            throw ValidationError(.invalidGeometry, "Coordinate (\(longitude), \(latitude)) is not finite.")
        }
        guard (-180...180).contains(longitude), (-90...90).contains(latitude) else {
            throw ValidationError(.invalidGeometry, "Coordinate (\(longitude), \(latitude)) is out of range (longitude ±180, latitude ±90).")
        }
    }
}
