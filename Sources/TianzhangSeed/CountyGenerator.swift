import Foundation
import TianzhangDomain
import TianzhangReference

/// A generated county: every real township, synthetic villages under them, parcels, field chiefs, cases.
public struct GeneratedCounty: Hashable, Sendable {
    public var county: Division
    /// The real townships of the division file, in code order.
    public var townships: [Division]
    /// Synthetic (`synthetic: true`): no public village list exists for the sample counties. In code order.
    /// Each carries its grid cell as its `boundary`, so alerts can be placed in villages at the hub.
    public var villages: [Division]
    /// The grid cell each township covers; its villages' cells tile it.
    public var townshipBoxes: [DivisionCode: BoundingBox]
    /// The grid cell each village covers; its parcels lie strictly inside it.
    public var villageBoxes: [DivisionCode: BoundingBox]
    /// In village order, then by serial (`<village>-0001`, `-0002`, …).
    public var parcels: [Parcel]
    /// One village-level field chief (田长) per village, in village order.
    public var chiefs: [FieldChief]
    /// Open cases, in id (so discovery-time) order.
    public var cases: [EnforcementCase]
    /// The area the county covers.
    public var box: BoundingBox

    /// The village cells in code order (a village's cell holds all its parcels).
    public var villageCells: [(village: DivisionCode, box: BoundingBox)] {
        villageBoxes.keys.sorted().map { ($0, villageBoxes[$0]!) }
    }

    /// The village whose cell holds `point`, if any (on a shared edge, the lower code).
    public func village(at point: Coordinate) -> DivisionCode? {
        villageBoxes.keys.sorted().first { villageBoxes[$0]!.contains(point) }
    }
}

/// Builds a plausible county from real division codes, deterministically: the same seed and
/// configuration always give the same county, byte for byte.
///
/// The county's box is split into a grid of township cells, each township cell into village cells,
/// and each village cell into parcel cells; a parcel is a convex quadrilateral or pentagon strictly
/// inside its parcel cell, so no two parcels can overlap.
///
/// ```swift
/// let generator = CountyGenerator(configuration: .init(seed: 7), landClasses: try ReferenceData.landClasses())
/// let hedong = generator.generate(county: try ReferenceData.countyFile(code: "371312"))
/// ```
public struct CountyGenerator: Sendable {
    /// What to generate.
    ///
    /// - `seed` (`UInt64`, default 1): the only source of randomness.
    /// - `villagesPerTownship` (`ClosedRange<Int>`, default `4...7`, at most 799: codes 201…999).
    /// - `parcelsPerVillage` (`ClosedRange<Int>`, default `10...16`, at most 9999).
    /// - `casesPerTownship` (`Int`, default 3; fewer when a township has fewer parcels).
    /// - `box` (`BoundingBox?`, default `nil`: `CountyGenerator.defaultBox(for:)`, about 30 km × 30 km).
    /// - `now` (`Timestamp`, default 2025-11-23 08:00 +08:00): cases are discovered in the 72 hours before it.
    public struct Configuration: Sendable {
        public var seed: UInt64
        public var villagesPerTownship: ClosedRange<Int>
        public var parcelsPerVillage: ClosedRange<Int>
        public var casesPerTownship: Int
        /// The area the county's villages cover; by default a ~30 km box near the county's real place.
        public var box: BoundingBox?
        /// The fixed time the generated cases are discovered before (never the wall clock).
        public var now: Timestamp

        public init(
            seed: UInt64 = 1, villagesPerTownship: ClosedRange<Int> = 4...7, parcelsPerVillage: ClosedRange<Int> = 10...16,
            casesPerTownship: Int = 3, box: BoundingBox? = nil, now: Timestamp = Timestamp(milliseconds: 1_763_856_000_000)
        ) {
            self.seed = seed
            self.villagesPerTownship = villagesPerTownship
            self.parcelsPerVillage = parcelsPerVillage
            self.casesPerTownship = casesPerTownship
            self.box = box
            self.now = now
        }
    }

    public var configuration: Configuration
    public var landClasses: LandClassCatalog

    public init(configuration: Configuration = Configuration(), landClasses: LandClassCatalog) {
        self.configuration = configuration
        self.landClasses = landClasses
    }

    /// Approximate real centres of the bundled counties (lon, lat).
    static let knownCentres: [String: (Double, Double)] = ["371312": (118.40, 35.10), "371525": (115.44, 36.48)]

    /// A box of about 30 km × 30 km: around the real centre for the bundled counties, otherwise at a
    /// place in eastern China derived from the code (deterministic, not the county's real place).
    public static func defaultBox(for county: DivisionCode) -> BoundingBox {
        let centre = knownCentres[county.county.rawValue] ?? {
            let n = Double(Int(county.county.rawValue)! % 997)
            return (105 + n.truncatingRemainder(dividingBy: 97) * 0.15, 26 + n.truncatingRemainder(dividingBy: 71) * 0.18)
        }()
        let halfHeight = 15.0 / 110.6, halfWidth = 15.0 / (111.3 * cos(centre.1 * .pi / 180))
        return BoundingBox(
            minLongitude: centre.0 - halfWidth, minLatitude: centre.1 - halfHeight,
            maxLongitude: centre.0 + halfWidth, maxLatitude: centre.1 + halfHeight)
    }

    static let syllables = Array("东西南北前后上下大小新旧王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤").map(String.init)
    static let places = ["庄", "营", "屯", "店", "集", "岭", "沟", "河", "湖", "坡", "楼", "园"]
    static let givenNames = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "桂英", "建国", "建华"]
    /// Cultivated classes (耕地) and their weights: irrigated and dry land dominate in Shandong.
    static let cultivatedWeights: [(String, Int)] = [("0101", 15), ("0102", 45), ("0103", 40)]
    /// Other classes found among fields: orchards, woods, grass, homesteads, roads, ponds, ditches, facility land.
    static let otherClasses = ["0201", "0204", "0301", "0307", "0404", "0702", "1006", "1104", "1107", "1202", "1203"]
    /// The open statuses cases are spread over, in workflow order.
    static let caseStatuses: [CaseStatus] = [.reported, .verifying, .confirmed, .stopped, .rectifying, .rectified, .dismissed]
    static let caseSummaries = ["疑似占用耕地建房", "疑似取土", "疑似倾倒建筑垃圾", "疑似建大棚房", "疑似非农化", "疑似撂荒"]

    /// Generates the county.
    /// - Parameter county: its real division list (from `ReferenceData` or `CountyDivisions(csv:)`).
    /// - Returns: the same output, byte for byte, for the same county and configuration.
    public func generate(county divisions: CountyDivisions) -> GeneratedCounty {
        precondition(configuration.villagesPerTownship.lowerBound >= 1 && configuration.villagesPerTownship.upperBound <= 799,
                     "villagesPerTownship must lie within 1...799 (village codes 201…999)")
        precondition(configuration.parcelsPerVillage.lowerBound >= 0 && configuration.parcelsPerVillage.upperBound <= 9999,
                     "parcelsPerVillage must lie within 0...9999 (four-digit serials)")
        precondition(configuration.casesPerTownship >= 0, "casesPerTownship must not be negative")
        var rng = SplitMix64(seed: configuration.seed ^ UInt64(Int(divisions.county.code.rawValue)!))
        let box = configuration.box ?? Self.defaultBox(for: divisions.county.code)
        let townshipCells = Self.grid(box, count: divisions.townships.count)
        let cultivated = Self.cultivatedWeights.filter { landClasses.classes[$0.0] != nil }
        let plausible = Self.otherClasses.filter { landClasses.classes[$0]?.groupCode != nil }
        let others = plausible.isEmpty
            ? landClasses.classes.values.filter { $0.groupCode != nil && !$0.isCultivated }.map(\.code).sorted() : plausible
        precondition(!cultivated.isEmpty || !others.isEmpty, "the land-class catalog has no usable class")
        var villages: [Division] = [], townshipBoxes: [DivisionCode: BoundingBox] = [:], villageBoxes: [DivisionCode: BoundingBox] = [:]
        var parcels: [Parcel] = [], chiefs: [FieldChief] = [], cases: [EnforcementCase] = []
        var caseSerial = 0
        for (t, township) in divisions.townships.enumerated() {
            townshipBoxes[township.code] = townshipCells[t]
            let villageCount = rng.draw(in: configuration.villagesPerTownship)
            let villageCells = Self.grid(townshipCells[t], count: villageCount)
            var townshipParcels: [Parcel] = []
            var names: Set<String> = []
            for v in 0..<villageCount {
                let code = try! DivisionCode(township.code.rawValue + Self.pad(201 + v, 3))
                var name: String
                repeat {
                    name = rng.element(of: Self.syllables) + rng.element(of: Self.syllables) + rng.element(of: Self.places) + "村"
                } while !names.insert(name).inserted
                villages.append(Division(code: code, name: name, synthetic: true, boundary: villageCells[v].polygon))
                villageBoxes[code] = villageCells[v]
                let chief = FieldChief(
                    id: "chief-\(code.rawValue)", name: rng.element(of: Array(Self.syllables[8..<68])) + rng.element(of: Self.givenNames),
                    division: code, phone: "1\(30 + rng.next() % 60)" + Self.pad(Int(rng.next() % 100_000_000), 8))
                chiefs.append(chief)
                let parcelCount = rng.draw(in: configuration.parcelsPerVillage)
                for (p, cell) in Self.parcelCells(in: villageCells[v], count: parcelCount).enumerated() {
                    let geometry = Self.parcelShape(in: cell, using: &rng)
                    let landClass = !cultivated.isEmpty && (others.isEmpty || rng.chance(0.85))
                        ? rng.weighted(cultivated) : rng.element(of: others)
                    let parcel = Parcel(
                        id: try! RecordID("\(code.rawValue)-\(Self.pad(p + 1, 4))"), village: code, landClass: landClass,
                        areaMu: geometry.areaMu, isPermanentBasicFarmland: landClass.hasPrefix("01") && rng.chance(0.82),
                        fieldChief: chief.id, geometry: geometry)
                    townshipParcels.append(parcel)
                }
            }
            parcels += townshipParcels
            // Distinct parcels per township, statuses spread along the workflow across the county.
            var candidates = townshipParcels
            for _ in 0..<min(configuration.casesPerTownship, candidates.count) {
                let parcel = candidates.remove(at: rng.draw(in: 0...(candidates.count - 1)))
                let discovered = configuration.now.adding(minutes: -Int64(rng.next() % (72 * 60)))
                let fraction = Double(1 + rng.next() % 5) / 10
                cases.append(EnforcementCase(
                    id: RecordID.generate(at: discovered, using: &rng), source: rng.element(of: CaseSource.allCases),
                    violation: rng.element(of: ViolationType.allCases.filter { $0 != .other }), location: parcel.geometry.interiorPoint,
                    township: township.code, village: parcel.village, parcelIDs: [parcel.id],
                    affectedAreaMu: max(0.01, (parcel.areaMu * fraction * 100).rounded() / 100), assignees: [parcel.fieldChief!],
                    discoveredAt: discovered, status: Self.caseStatuses[caseSerial % Self.caseStatuses.count],
                    summary: rng.element(of: Self.caseSummaries)))
                caseSerial += 1
            }
        }
        return GeneratedCounty(
            county: divisions.county, townships: divisions.townships, villages: villages, townshipBoxes: townshipBoxes,
            villageBoxes: villageBoxes, parcels: parcels, chiefs: chiefs, cases: cases.sorted { $0.id < $1.id }, box: box)
    }

    /// The same as `generate(county:)`.
    public func generate(_ divisions: CountyDivisions) -> GeneratedCounty { generate(county: divisions) }

    /// Splits a box into at least `count` near-square cells, row by row; returns the first `count`.
    static func grid(_ box: BoundingBox, count: Int) -> [BoundingBox] {
        guard count > 0 else { return [] }
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let width = (box.maxLongitude - box.minLongitude) / Double(columns)
        let height = (box.maxLatitude - box.minLatitude) / Double(rows)
        return (0..<count).map { i in
            let x = box.minLongitude + Double(i % columns) * width, y = box.minLatitude + Double(i / columns) * height
            return BoundingBox(minLongitude: x, minLatitude: y, maxLongitude: x + width, maxLatitude: y + height)
        }
    }

    /// Parcel cells of about 110 m × 130 m (so parcels come out at roughly 4–12 mu, as fields here are),
    /// laid out from the village cell's south-west corner; smaller when that many do not fit.
    static func parcelCells(in village: BoundingBox, count: Int) -> [BoundingBox] {
        guard count > 0 else { return [] }
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let size = min(0.0012, (village.maxLongitude - village.minLongitude) / Double(columns + 1), (village.maxLatitude - village.minLatitude) / Double(rows + 1))
        let margin = size / 2
        let area = BoundingBox(
            minLongitude: village.minLongitude + margin, minLatitude: village.minLatitude + margin,
            maxLongitude: village.minLongitude + margin + size * Double(columns),
            maxLatitude: village.minLatitude + margin + size * Double(rows))
        return grid(area, count: count)
    }

    /// A convex quadrilateral (70%) or pentagon (30%) strictly inside `cell`, counter-clockwise.
    ///
    /// The corners lie on an ellipse inside the cell (2% margin at least) at jittered angles in
    /// increasing order; points of an ellipse taken in angular order always form a convex polygon.
    /// Coordinates are rounded to 1e-7° (~1 cm), as survey data is.
    static func parcelShape(in cell: BoundingBox, using rng: inout SplitMix64) -> Polygon {
        let w = cell.maxLongitude - cell.minLongitude, h = cell.maxLatitude - cell.minLatitude
        let corners = rng.chance(0.3) ? 5 : 4
        let rx = w * (0.34 + 0.12 * rng.unit()), ry = h * (0.34 + 0.12 * rng.unit())
        let cx = (cell.minLongitude + cell.maxLongitude) / 2 + (2 * rng.unit() - 1) * (w / 2 - rx - 0.02 * w)
        let cy = (cell.minLatitude + cell.maxLatitude) / 2 + (2 * rng.unit() - 1) * (h / 2 - ry - 0.02 * h)
        let step = 2 * Double.pi / Double(corners)
        let start = rng.unit() * step
        func round7(_ x: Double) -> Double { (x * 1e7).rounded() / 1e7 }
        let ring = (0..<corners).map { i -> Coordinate in
            let angle = start + Double(i) * step + (2 * rng.unit() - 1) * 0.2 * step
            return Coordinate(longitude: round7(cx + rx * cos(angle)), latitude: round7(cy + ry * sin(angle)))
        }
        return Polygon(exterior: ring + [ring[0]])
    }

    /// `value` in decimal, left-padded with zeros to `width` digits.
    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}

/// Draws built only on `next()`, so the output does not depend on how the standard library maps random
/// bits to ranges (which may change between toolchains).
extension SplitMix64 {
    /// A uniform integer in `range` (the modulo bias is below 2⁻⁴⁰ for the ranges used here).
    fileprivate mutating func draw(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// A uniform double in [0, 1).
    fileprivate mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    fileprivate mutating func element<T>(of items: [T]) -> T { items[draw(in: 0...(items.count - 1))] }

    fileprivate mutating func weighted(_ items: [(String, Int)]) -> String {
        var roll = draw(in: 0...(items.map(\.1).reduce(0, +) - 1))
        for (item, weight) in items {
            if roll < weight { return item }
            roll -= weight
        }
        return items[items.count - 1].0
    }
}
