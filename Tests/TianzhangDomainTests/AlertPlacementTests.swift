import Foundation
import Testing
import TianzhangDomain

@Suite("Alert placement")
struct AlertPlacementTests {
    /// Two villages of township 001 side by side, one of township 002 north of them, and nothing east.
    let villages: [VillageArea] = [
        VillageArea(code: try! DivisionCode("371312001201"), boundary: box(118.30, 35.00, 118.31, 35.01).polygon, fieldChief: "chief-a"),
        VillageArea(code: try! DivisionCode("371312001202"), boundary: box(118.31, 35.00, 118.32, 35.01).polygon),
        VillageArea(code: try! DivisionCode("371312002201"), boundary: box(118.30, 35.01, 118.32, 35.02).polygon),
    ]

    static func box(_ w: Double, _ s: Double, _ e: Double, _ n: Double) -> BoundingBox {
        BoundingBox(minLongitude: w, minLatitude: s, maxLongitude: e, maxLatitude: n)
    }
    func box(_ w: Double, _ s: Double, _ e: Double, _ n: Double) -> BoundingBox { Self.box(w, s, e, n) }

    func place(_ geometry: AlertGeometry) -> Result<AlertPlacement, ValidationError> { AlertPlacer.place(geometry, in: villages) }

    @Test("a polygon across two villages lies in both; the larger overlap is the main village; areas add up")
    func straddling() throws {
        let patch = box(118.306, 35.002, 118.312, 35.004).polygon
        let placement = try place(.polygons([patch])).get()
        #expect(placement.villages.map(\.village.rawValue) == ["371312001201", "371312001202"])
        #expect(placement.township.rawValue == "371312001")
        #expect(abs(placement.villages.map(\.areaMu).reduce(0, +) - patch.areaMu) < 1e-6 * patch.areaMu)
        #expect(abs(placement.villages[0].areaMu / placement.villages[1].areaMu - 2) < 1e-3, "4/6 and 2/6 of the patch")
        #expect(patch.contains(placement.location))
        #expect(abs(placement.areaMu - patch.areaMu) < 1e-9)
    }

    @Test("a polygon touching a village only along its edge does not lie in it")
    func touchingIsNotOverlapping() throws {
        let placement = try place(.polygons([box(118.302, 35.002, 118.31, 35.004).polygon])).get()
        #expect(placement.villages.map(\.village.rawValue) == ["371312001201"])
    }

    @Test("a MultiPolygon whose parts lie in two townships is placed by its larger part; a hole is not counted")
    func multiPolygon() throws {
        let small = box(118.301, 35.001, 118.302, 35.002).polygon
        let large = Polygon(exterior: box(118.303, 35.012, 118.309, 35.018).polygon.exterior,
                            holes: [Array(box(118.304, 35.013, 118.305, 35.014).polygon.exterior.reversed())])
        let placement = try place(.polygons([small, large])).get()
        #expect(placement.mainVillage.rawValue == "371312002201" && placement.township.rawValue == "371312002")
        #expect(placement.villages.map(\.village.rawValue) == ["371312002201", "371312001201"])
        #expect(abs(placement.villages[0].areaMu - large.areaMu) < 1e-6 * large.areaMu)
        #expect(large.contains(placement.location))
    }

    @Test("a point lies in the village holding it; on a shared edge the lower code is the main village")
    func points() throws {
        #expect(try place(.point(Coordinate(longitude: 118.315, latitude: 35.005))).get().villages.map(\.village.rawValue) == ["371312001202"])
        let edge = try place(.point(Coordinate(longitude: 118.31, latitude: 35.005))).get()
        #expect(edge.villages.map(\.village.rawValue) == ["371312001201", "371312001202"] && edge.areaMu == 0)
    }

    @Test("refusals: outside the county, an invalid polygon with the validator's message, a line, an invalid point")
    func refusals() {
        func code(_ result: Result<AlertPlacement, ValidationError>) -> (String, String?, String)? {
            if case .failure(let error) = result { return (error.code.rawValue, error.field, error.message) } else { return nil }
        }
        #expect(code(place(.polygons([box(118.33, 35.0, 118.34, 35.01).polygon])))?.0 == "outside_county")
        #expect(code(place(.point(Coordinate(longitude: 119, latitude: 35))))?.0 == "outside_county")
        let bowtie = Polygon(exterior: [(0.0, 0.0), (0.002, 0.002), (0.002, 0.0), (0.0, 0.002), (0.0, 0.0)].map { Coordinate(longitude: 118.301 + $0.0, latitude: 35.001 + $0.1) })
        let invalid = code(place(.polygons([bowtie])))
        #expect(invalid?.0 == "invalid_geometry" && invalid?.1 == "geometry.rings[0]" && invalid?.2 == "Ring 0 self-intersects: segment 0 meets segment 2.")
        let second = code(place(.polygons([box(118.301, 35.001, 118.302, 35.002).polygon, bowtie])))
        #expect(second?.0 == "invalid_geometry" && second?.1 == "geometry.coordinates[1].rings[0]")
        let open = Polygon(exterior: [Coordinate(longitude: 118.301, latitude: 35.001), Coordinate(longitude: 118.302, latitude: 35.001), Coordinate(longitude: 118.302, latitude: 35.002), Coordinate(longitude: 118.301, latitude: 35.0015)])
        #expect(code(place(.polygons([open])))?.0 == "invalid_geometry")
        #expect(code(place(.polygons([])))?.0 == "invalid_geometry")
        #expect(code(place(.unsupported(type: "LineString")))?.0 == "not_a_polygon")
        #expect(code(place(.point(Coordinate(longitude: .nan, latitude: 35))))?.0 == "invalid_geometry")
    }

    @Test("GeoJSON geometries decode: Point, Polygon, MultiPolygon, other types as unsupported; bad positions fail")
    func decoding() throws {
        func decode(_ text: String) throws -> AlertGeometry { try JSONDecoder().decode(AlertGeometry.self, from: Data(text.utf8)) }
        #expect(try decode(#"{"type":"Point","coordinates":[118.3,35.1]}"#) == .point(Coordinate(longitude: 118.3, latitude: 35.1)))
        guard case .polygons(let one) = try decode(#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#) else { Issue.record("not a polygon"); return }
        #expect(one.count == 1 && one[0].exterior.count == 4)
        guard case .polygons(let two) = try decode(#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[2,2],[3,2],[3,3],[2,2]]]]}"#) else { Issue.record("not polygons"); return }
        #expect(two.count == 2)
        #expect(try decode(#"{"type":"LineString","coordinates":[[0,0],[1,1]]}"#) == .unsupported(type: "LineString"))
        #expect(throws: DecodingError.self) { try decode(#"{"type":"Polygon","coordinates":[[[0],[1,0],[1,1],[0,0]]]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"type":"Point","coordinates":[118.3]}"#) }
        // Encoding round-trips.
        let geometry = AlertGeometry.polygons(two)
        #expect(try JSONDecoder().decode(AlertGeometry.self, from: try JSONEncoder().encode(geometry)) == geometry)
    }

    @Test("affected parcels: those the alert's parts overlap (not merely touch), or the one holding the point")
    func affectedParcels() throws {
        func parcel(_ serial: Int, _ cell: BoundingBox) throws -> Parcel {
            Parcel(id: try RecordID("371312001201-000\(serial)"), village: try DivisionCode("371312001201"), landClass: "0101", areaMu: 5,
                   isPermanentBasicFarmland: false, fieldChief: nil, geometry: cell.polygon)
        }
        let parcels = [
            try parcel(3, box(118.301, 35.001, 118.302, 35.002)), try parcel(1, box(118.303, 35.001, 118.304, 35.002)),
            try parcel(2, box(118.306, 35.001, 118.307, 35.002)),
        ]
        let patch = box(118.3015, 35.0015, 118.306, 35.003).polygon
        #expect(AlertPlacer.affectedParcels(of: .polygons([patch]), among: parcels).map(\.rawValue) == ["371312001201-0001", "371312001201-0003"])
        #expect(AlertPlacer.affectedParcels(of: .point(Coordinate(longitude: 118.3065, latitude: 35.0015)), among: parcels).map(\.rawValue) == ["371312001201-0002"])
        #expect(AlertPlacer.affectedParcels(of: .unsupported(type: "LineString"), among: parcels).isEmpty)
    }

    @Test("overlap area: a box inside a convex polygon is its whole area; outside it is zero; convexity")
    func overlapArea() {
        let village = box(118.30, 35.00, 118.31, 35.01).polygon
        let inside = box(118.301, 35.001, 118.302, 35.002).polygon
        #expect(abs(inside.overlapSquareMetres(with: village) - inside.areaSquareMetres) < 1e-6)
        #expect(box(118.32, 35.0, 118.33, 35.01).polygon.overlapSquareMetres(with: village) == 0)
        #expect(village.isConvex)
        let notch = Polygon(exterior: [(0.0, 0.0), (2.0, 0.0), (1.0, 0.5), (2.0, 1.0), (0.0, 1.0), (0.0, 0.0)].map { Coordinate(longitude: $0.0, latitude: $0.1) })
        #expect(!notch.isConvex)
    }
}
