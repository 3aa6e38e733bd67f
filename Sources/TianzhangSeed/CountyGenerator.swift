import Foundation
import TianzhangDomain
import TianzhangReference

/// A generated county: every real township, synthetic villages under them, parcels, field chiefs, cases.
public struct GeneratedCounty: Sendable {
    public var county: Division
    public var townships: [Division]
    /// Synthetic: no public village list exists for the sample counties.
    public var villages: [Division]
    /// The cell each village covers (its parcels lie inside it).
    public var villageBoxes: [DivisionCode: BoundingBox]
    public var parcels: [Parcel]
    public var chiefs: [FieldChief]
    public var cases: [EnforcementCase]
    public var box: BoundingBox

    /// The village whose cell holds `point`, if any.
    public func village(at point: Coordinate) -> DivisionCode? {
        villageBoxes.keys.sorted().first { villageBoxes[$0]!.contains(point) }
    }
}

/// Builds a plausible county from real division codes, deterministically: the same seed and
/// configuration always give the same county, byte for byte.
public struct CountyGenerator: Sendable {
    public struct Configuration: Sendable {
        public var seed: UInt64 = 1
        public var villagesPerTownship: ClosedRange<Int> = 4...7
        public var parcelsPerVillage: ClosedRange<Int> = 10...16
        public var casesPerTownship = 3
        /// The area the county's villages cover; by default a ~30 km box near the county's real place.
        public var box: BoundingBox?
        /// The time the generated cases are discovered before (default 2026-11-23 08:00 +08:00).
        public var now = Timestamp(milliseconds: 1_763_856_000_000)

        public init(seed: UInt64 = 1) { self.seed = seed }
    }

    public var configuration: Configuration
    public var landClasses: LandClassCatalog

    public init(configuration: Configuration = Configuration(), landClasses: LandClassCatalog) {
        self.configuration = configuration
        self.landClasses = landClasses
    }

    /// Approximate real centres of the bundled counties; others get a deterministic place in China.
    static let knownCentres: [String: (Double, Double)] = ["371312": (118.40, 35.10), "371525": (115.44, 36.48)]

    public static func defaultBox(for county: DivisionCode) -> BoundingBox {
        let centre = knownCentres[county.rawValue] ?? {
            let n = Double(Int(county.rawValue)! % 997)
            return (105 + (n.truncatingRemainder(dividingBy: 97)) * 0.15, 26 + (n.truncatingRemainder(dividingBy: 71)) * 0.18)
        }()
        return BoundingBox(minLongitude: centre.0 - 0.17, minLatitude: centre.1 - 0.14, maxLongitude: centre.0 + 0.17, maxLatitude: centre.1 + 0.14)
    }

    static let syllables = Array("东西南北前后上下大小新旧王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤").map(String.init)
    static let places = ["庄", "营", "屯", "店", "集", "岭", "沟", "河", "湖", "坡", "楼", "园"]
    static let givenNames = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "桂英", "建国", "建华"]

    public func generate(_ divisions: CountyDivisions) -> GeneratedCounty {
        var rng = SplitMix64(seed: configuration.seed ^ UInt64(Int(divisions.county.code.rawValue)!))
        let box = configuration.box ?? Self.defaultBox(for: divisions.county.code)
        let townshipCells = Self.grid(box, count: divisions.townships.count)
        let cultivated = ["0101", "0102", "0103"].filter { landClasses.classes[$0] != nil }
        let others = landClasses.classes.values.filter { $0.groupCode != nil && $0.groupCode != "01" }.map(\.code).sorted()
        var villages: [Division] = [], boxes: [DivisionCode: BoundingBox] = [:], parcels: [Parcel] = []
        var chiefs: [FieldChief] = [], cases: [EnforcementCase] = []
        for (t, township) in divisions.townships.enumerated() {
            let villageCount = Int.random(in: configuration.villagesPerTownship, using: &rng)
            let villageCells = Self.grid(townshipCells[t], count: villageCount)
            var townshipParcels: [Parcel] = []
            for v in 0..<villageCount {
                let code = try! DivisionCode(township.code.rawValue + String(format: "%03d", 201 + v))
                let name = Self.syllables[Int(rng.next() % UInt64(Self.syllables.count))] + Self.syllables[Int(rng.next() % UInt64(Self.syllables.count))]
                    + Self.places[Int(rng.next() % UInt64(Self.places.count))] + "村"
                villages.append(Division(code: code, name: name, synthetic: true))
                boxes[code] = villageCells[v]
                let chief = FieldChief(
                    id: "chief-\(code.rawValue)",
                    name: Self.syllables[8 + Int(rng.next() % 60)] + Self.givenNames[Int(rng.next() % UInt64(Self.givenNames.count))],
                    division: code, phone: "1\(30 + rng.next() % 60)\(String(format: "%08d", rng.next() % 100_000_000))")
                chiefs.append(chief)
                let parcelCount = Int.random(in: configuration.parcelsPerVillage, using: &rng)
                for (p, cell) in Self.parcelCells(in: villageCells[v], count: parcelCount).enumerated() {
                    let geometry = Self.quadrilateral(in: cell, using: &rng)
                    let roll = rng.next() % 100
                    let landClass = roll < 85 || others.isEmpty ? cultivated[Int(roll % UInt64(cultivated.count))] : others[Int(rng.next() % UInt64(others.count))]
                    let parcel = Parcel(
                        id: try! RecordID("\(code.rawValue)-\(String(format: "%04d", p + 1))"), village: code, landClass: landClass,
                        areaMu: geometry.areaMu, isPermanentBasicFarmland: landClass.hasPrefix("01") && rng.next() % 10 < 7,
                        fieldChief: chief.id, geometry: geometry)
                    townshipParcels.append(parcel)
                }
            }
            parcels += townshipParcels
            let statuses: [CaseStatus] = [.reported, .verifying, .confirmed, .stopped, .rectifying]
            for c in 0..<configuration.casesPerTownship where !townshipParcels.isEmpty {
                let parcel = townshipParcels[Int(rng.next() % UInt64(townshipParcels.count))]
                let discovered = configuration.now.adding(minutes: -Int64(rng.next() % (72 * 60)))
                cases.append(EnforcementCase(
                    id: RecordID.generate(at: discovered, using: &rng), source: CaseSource.allCases[Int(rng.next() % UInt64(CaseSource.allCases.count))],
                    violation: ViolationType.allCases[Int(rng.next() % 9)], location: parcel.geometry.interiorPoint, township: township.code,
                    village: parcel.village, parcelIDs: [parcel.id], affectedAreaMu: (parcel.areaMu * Double(1 + rng.next() % 5) / 10 * 100).rounded() / 100,
                    assignees: ["chief-\(parcel.village.rawValue)"], discoveredAt: discovered, status: statuses[c % statuses.count],
                    summary: "疑似\(["占用耕地建房", "挖土", "堆放建筑垃圾", "建大棚房"][Int(rng.next() % 4)])"))
            }
        }
        return GeneratedCounty(
            county: divisions.county, townships: divisions.townships, villages: villages, villageBoxes: boxes, parcels: parcels,
            chiefs: chiefs, cases: cases.sorted { $0.id < $1.id }, box: box)
    }

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

    /// Parcel cells of about 110 m × 110 m (so parcels come out at 3–10 mu, as fields here are), laid
    /// out from the village cell's south-west corner; smaller when that many do not fit.
    static func parcelCells(in village: BoundingBox, count: Int) -> [BoundingBox] {
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let size = min(0.0012, (village.maxLongitude - village.minLongitude) / Double(columns), (village.maxLatitude - village.minLatitude) / Double(rows))
        let margin = size / 2
        let area = BoundingBox(
            minLongitude: village.minLongitude + margin, minLatitude: village.minLatitude + margin,
            maxLongitude: min(village.maxLongitude, village.minLongitude + margin + size * Double(columns)),
            maxLatitude: min(village.maxLatitude, village.minLatitude + margin + size * Double(rows)))
        return grid(area, count: count)
    }

    /// A simple quadrilateral strictly inside `cell`: each corner moved inward by 8–30% of the cell, so
    /// corners stay in their own quadrant (the ring cannot cross itself) and parcels of different cells
    /// can never overlap. Coordinates are rounded to 1e-7° (~1 cm), as survey data is.
    static func quadrilateral(in cell: BoundingBox, using rng: inout SplitMix64) -> Polygon {
        let w = cell.maxLongitude - cell.minLongitude, h = cell.maxLatitude - cell.minLatitude
        func inset() -> Double { 0.08 + Double(rng.next() % 1000) / 1000 * 0.22 }
        func round7(_ x: Double) -> Double { (x * 1e7).rounded() / 1e7 }
        let corners = [
            (cell.minLongitude + inset() * w, cell.minLatitude + inset() * h),
            (cell.maxLongitude - inset() * w, cell.minLatitude + inset() * h),
            (cell.maxLongitude - inset() * w, cell.maxLatitude - inset() * h),
            (cell.minLongitude + inset() * w, cell.maxLatitude - inset() * h),
        ].map { Coordinate(longitude: round7($0.0), latitude: round7($0.1)) }
        return Polygon(exterior: corners + [corners[0]])
    }
}
