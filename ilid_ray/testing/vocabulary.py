"""The words of the fixture catalogs: product families, materials and finishes.

Kept as data so the generator stays short and the texts read like real industrial catalog pages
(standard parts: hinges, clamps, knobs, bearings, profiles, ...). Templates are `str.format`
strings over the product's values: noun, noun_l, material, material_spec, finish, adj and the
family's size keys.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Material:
    adjective: str  # how titles name it
    specs: tuple[str, ...]  # grade as written in the attribute table
    finishes: dict[str, RGB]  # finish -> colour the images are drawn in
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    sizes: dict[str, tuple]
    size_format: str
    series_number: int
    attributes: tuple[tuple[str, str], ...]
    weight_range: tuple[int, int]
    intros: tuple[str, ...]
    applications: tuple[str, ...]
    features: tuple[str, ...]
    finishes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per-material subset

    def weight_g(self, rng: random.Random) -> int:
        return rng.randint(*self.weight_range)


MATERIALS: dict[str, Material] = {
    "stainless steel": Material(
        "Stainless Steel", ("stainless steel AISI 304", "stainless steel AISI 316L", "stainless steel A4"),
        {"matte shot-blasted": (168, 170, 172), "polished": (205, 208, 212),
         "electropolished": (212, 214, 218), "passivated": (184, 186, 189)},
        ("Made of {material_spec} with a {finish} surface, it resists corrosion in wet and "
         "washdown areas.", "The {material_spec} body is {finish} and suited to food processing "
         "and clean rooms.", "Corrosion-resistant {material_spec}, {finish}.")),
    "steel": Material(
        "Steel", ("steel C45", "case-hardened steel 16MnCr5", "free-cutting steel 11SMnPb30"),
        {"zinc plated, blue passivated": (176, 187, 204), "black oxide": (46, 46, 52),
         "yellow chromated": (198, 172, 88), "plain, oiled": (122, 119, 112)},
        ("The parts are made of {material_spec}, {finish}.", "Made of {material_spec}; the surface "
         "is {finish} for basic corrosion protection.", "{material_spec} with a {finish} finish.")),
    "zinc die-cast": Material(
        "Zinc Die-Cast", ("zinc die-cast ZAMAK 5", "zinc die-cast GD-ZnAl4Cu1"),
        {"black powder-coated": (32, 32, 34), "chrome-plated": (218, 220, 224),
         "silver metallic powder-coated": (158, 161, 166), "matte black textured": (40, 40, 42)},
        ("The body is {material_spec}, {finish}.", "Made of {material_spec} with a {finish} "
         "surface that is resistant to oils and coolants.")),
    "aluminium": Material(
        "Aluminium", ("aluminium AlMgSi0.5 F25", "aluminium EN AW-6060 T66", "aluminium EN AW-6082"),
        {"natural anodized": (192, 195, 198), "black anodized": (30, 30, 33),
         "clear anodized": (203, 204, 206), "blank": (184, 187, 190)},
        ("Made of {material_spec}, {finish}: light yet rigid.", "The {material_spec} is {finish}, "
         "which protects the surface against scratches and corrosion.")),
    "brass": Material(
        "Brass", ("brass CuZn39Pb3", "brass CW614N"),
        {"blank": (181, 150, 66), "nickel-plated": (192, 191, 180)},
        ("Made of {material_spec}, {finish}.", "The {material_spec} parts are {finish} and do not "
         "spark.")),
    "technopolymer": Material(
        "Technopolymer", ("glass-fibre reinforced polyamide PA 6", "technopolymer PA 66 GF30",
                          "polyacetal POM"),
        {"matte black": (26, 26, 26), "glossy black": (14, 14, 18), "red": (188, 34, 36),
         "orange": (228, 118, 22), "grey RAL 7035": (203, 208, 204), "natural beige": (222, 205, 160)},
        ("Made of {material_spec}, {finish}, resistant to solvents, oils and greases.",
         "The {material_spec} is {finish}; it stays tough between -20 °C and +100 °C.",
         "{material_spec} in {finish}, light and electrically insulating.")),
    "duroplast": Material(
        "Duroplast", ("phenolic resin PF 31",),
        {"glossy black": (12, 12, 14)},
        ("Made of {material_spec}, {finish}, heat resistant up to 110 °C.",)),
    "chrome steel": Material(
        "Chrome Steel", ("chrome steel 100Cr6 (AISI 52100)",),
        {"ground": (176, 179, 183), "black oxide": (48, 48, 54)},
        ("Rings and balls are {material_spec}, hardened and {finish}.",)),
}

FAMILIES: dict[str, Family] = {
    "hinge": Family(
        nouns=("Hinge", "Lift-off Hinge", "Butt Hinge", "Profile Hinge"),
        materials=("stainless steel", "zinc die-cast", "aluminium", "technopolymer"),
        sizes={"a": (30, 40, 50, 60, 80)}, size_format="{a}x{a} mm", series_number=7336,
        attributes=(("Opening angle", "max. 180°"), ("Load capacity", "{a}0 N")),
        weight_range=(25, 240),
        intros=("The {noun_l} joins doors, flaps and covers on machine guards and enclosures.",
                "This {noun_l} has two leaves on a solid hinge pin and mounts with countersunk "
                "screws.", "Robust {noun_l} for panels and doors of machine housings."),
        applications=("Typical uses are inspection doors, protective covers and switch cabinets.",
                      "Suited to aluminium profile systems with slot 8 and slot 10."),
        features=("Leaves with countersunk holes", "Maintenance-free hinge pin",
                  "Opening angle up to 180°", "Symmetrical design, left or right mounting")),
    "toggle clamp": Family(
        nouns=("Horizontal Toggle Clamp", "Vertical Toggle Clamp", "Push-Pull Toggle Clamp"),
        materials=("steel", "stainless steel"),
        sizes={"force": (250, 900, 1600, 2500, 4500)}, size_format="{force} N", series_number=810,
        attributes=(("Holding capacity", "{force} N"), ("Handle", "red oil-resistant plastic")),
        weight_range=(60, 520), finishes={"steel": ("zinc plated, blue passivated",)},
        intros=("The {noun_l} holds workpieces quickly and securely with a self-locking lever "
                "mechanism.", "Quick-action {noun_l} with a clamping spindle and a flanged base."),
        applications=("For fixtures, welding jigs and assembly stations.",
                      "Used to hold parts during drilling, gluing and inspection."),
        features=("Self-locking past the dead centre", "Adjustable clamping spindle with "
                  "neoprene pressure pad", "Flanged base with mounting holes")),
    "knob": Family(
        nouns=("Star Knob", "Star Grip", "Control Knob", "Cross Knob", "Fluted Grip"),
        materials=("technopolymer", "duroplast", "zinc die-cast", "stainless steel", "aluminium"),
        sizes={"d": (32, 40, 50, 63), "thread": ("M6", "M8", "M10", "M12")},
        size_format="{thread} D{d}", series_number=5337,
        attributes=(("Thread", "{thread}"), ("Diameter", "{d} mm"), ("Insert", "steel, zinc plated")),
        weight_range=(12, 120), finishes={"technopolymer": ("matte black", "red", "orange", "grey RAL 7035")},
        intros=("The {noun_l} gives a firm grip for tightening by hand without tools.",
                "Ergonomic {noun_l} with a threaded insert pressed into the body."),
        applications=("For clamping and adjusting on fixtures, guards and machine slides.",
                      "Used on adjustment spindles, covers and quick-change tooling."),
        features=("Threaded insert, blind hole", "Ergonomic grip contour",
                  "Resistant to oils and coolants", "Cover cap available")),
    "handle": Family(
        nouns=("U-Handle", "Pull Handle", "Tubular Handle", "Bow Handle"),
        materials=("aluminium", "stainless steel", "technopolymer", "steel"),
        sizes={"pitch": (117, 160, 180, 250, 300)}, size_format="pitch {pitch} mm", series_number=565,
        attributes=(("Pitch", "{pitch} mm"), ("Fastening", "threaded blind holes M8")),
        weight_range=(45, 420),
        intros=("The {noun_l} is fastened from the rear with two screws.",
                "Sturdy {noun_l} for doors, drawers and machine covers."),
        applications=("For control cabinets, machine doors and transport boxes.",
                      "Suited to frequent use in workshops and production lines."),
        features=("Rounded edges for a comfortable grip", "Mounting from the rear",
                  "High load capacity")),
    "indexing plunger": Family(
        nouns=("Indexing Plunger", "Index Bolt", "Cam Action Indexing Plunger"),
        materials=("steel", "stainless steel"),
        sizes={"thread": ("M10x1", "M12x1.5", "M16x1.5", "M20x1.5"), "pin": (5, 6, 8, 10)},
        size_format="{thread} pin {pin} mm", series_number=617,
        attributes=(("Thread", "{thread}"), ("Plunger pin diameter", "{pin} mm"),
                    ("Knob", "technopolymer, red"), ("Spring", "stainless steel")),
        weight_range=(30, 190),
        intros=("The {noun_l} locates and locks slides, tables and swivel parts in set positions.",
                "Spring-loaded {noun_l}: pull the knob to retract the hardened plunger pin."),
        applications=("For index tables, swivel units and adjustable stops.",
                      "Positions parts repeatably in fixtures and machine frames."),
        features=("Hardened and ground plunger pin", "Rest position by turning the knob 90°",
                  "Lock nut included")),
    "ball bearing": Family(
        nouns=("Deep Groove Ball Bearing", "Flanged Ball Bearing", "Sealed Ball Bearing"),
        materials=("chrome steel", "stainless steel"),
        sizes={"code": ("6000", "6001", "6201", "6202", "6204", "6305"), "seal": ("2RS", "ZZ")},
        size_format="{code}-{seal}", series_number=6,
        attributes=(("Designation", "{code}-{seal}"), ("Seal", "{seal} on both sides"),
                    ("Lubrication", "lithium grease, lubricated for life")),
        weight_range=(19, 240),
        intros=("The {noun_l} carries radial and moderate axial loads at high speeds.",
                "Single-row {noun_l} with seals on both sides, lubricated for life."),
        applications=("For shafts, rollers, conveyors and electric motors.",
                      "Used in gearboxes, pumps and guide rollers."),
        features=("Low friction and low noise", "Sealed against dust and splash water",
                  "Interchangeable with standard bearings of the same series")),
    "aluminium profile": Family(
        nouns=("Strut Profile", "Aluminium Profile", "Slot Profile", "Construction Profile"),
        materials=("aluminium",),
        sizes={"cs": ("20x20", "30x30", "40x40", "40x80", "45x45"), "slot": (6, 8, 10),
               "length": (500, 1000, 2000)},
        size_format="{cs} slot {slot} L{length}", series_number=30,
        attributes=(("Cross-section", "{cs} mm"), ("Slot width", "{slot} mm"), ("Length", "{length} mm")),
        weight_range=(250, 3200),
        intros=("The {noun_l} is the basic element for frames, guards and workstations.",
                "Extruded {noun_l} with slots on all sides for T-nuts and connectors."),
        applications=("Build machine frames, enclosures, conveyors and work benches.",
                      "Combine with angle brackets, T-slot nuts and panel holders."),
        features=("Slots on four sides", "Central bore for tapping", "Cut to length on request")),
    "levelling foot": Family(
        nouns=("Levelling Foot", "Levelling Element", "Swivel Foot", "Machine Foot"),
        materials=("technopolymer", "stainless steel", "steel", "zinc die-cast"),
        sizes={"d": (40, 60, 80, 100), "thread": ("M8", "M10", "M12", "M16"), "len": (50, 75, 100)},
        size_format="D{d} {thread}x{len}", series_number=343,
        attributes=(("Base diameter", "{d} mm"), ("Thread", "{thread}"), ("Threaded stud length", "{len} mm"),
                    ("Pad", "NBR rubber, anti-slip")),
        weight_range=(60, 650), finishes={"technopolymer": ("matte black", "grey RAL 7035")},
        intros=("The {noun_l} levels machines and frames on uneven floors.",
                "Swivelling {noun_l} with a threaded stud and a hexagon for a spanner."),
        applications=("For machines, conveyor frames, tables and enclosures.",
                      "Compensates uneven floors and damps vibration."),
        features=("Swivel angle up to 15°", "Anti-slip pad", "Hexagon for adjusting with a spanner")),
    "collet": Family(
        nouns=("ER Collet", "Spring Collet", "Precision Collet"),
        materials=("steel",),
        sizes={"er": ("ER16", "ER25", "ER32", "ER40"), "d": (4, 6, 8, 10, 12, 16)},
        size_format="{er} D{d}", series_number=470,
        attributes=(("Series", "{er}"), ("Clamping diameter", "{d} mm"), ("Runout", "max. 0.005 mm")),
        weight_range=(12, 110),
        finishes={"steel": ("black oxide", "plain, oiled")},
        intros=("The {noun_l} clamps drills, end mills and taps concentrically in the collet chuck.",
                "Slotted {noun_l} made of hardened spring steel with a clamping range of 1 mm."),
        applications=("For milling chucks, spindles and lathes.",
                      "Used in tool holders of CNC machining centres."),
        features=("High concentricity", "Hardened and ground", "Slotted on both ends")),
    "quick-release pin": Family(
        nouns=("Ball Lock Pin", "Quick Release Pin", "Locking Pin"),
        materials=("stainless steel", "steel"),
        sizes={"d": (5, 6, 8, 10, 12), "len": (20, 30, 40, 60)}, size_format="D{d}x{len}",
        series_number=113,
        attributes=(("Pin diameter", "{d} mm"), ("Clamping length", "{len} mm"), ("Handle", "T-handle")),
        weight_range=(8, 95),
        intros=("The {noun_l} connects parts quickly: press the button to release the locking balls.",
                "Self-locking {noun_l} with two balls held by a spring-loaded push button."),
        applications=("For jigs, fixtures, lifting gear and quick-change connections.",
                      "Secures adjustable parts without tools."),
        features=("Locks automatically", "Hardened locking balls", "Cable and ring available")),
    "clamping lever": Family(
        nouns=("Clamping Lever", "Adjustable Clamping Lever", "Cam Lever"),
        materials=("zinc die-cast", "technopolymer", "aluminium", "stainless steel"),
        sizes={"thread": ("M6", "M8", "M10", "M12"), "len": (45, 63, 78, 92)},
        size_format="{thread} L{len}", series_number=300,
        attributes=(("Thread", "{thread}"), ("Lever length", "{len} mm"), ("Serration", "indexable")),
        weight_range=(20, 160),
        intros=("The {noun_l} can be repositioned on its serration when space is tight.",
                "Indexable {noun_l}: pull the lever up, turn it back, let it engage again."),
        applications=("For clamping on machine tools, jigs and adjustable guards.",
                      "Used wherever a clamping point has little room to turn."),
        features=("Indexable lever", "Threaded bush or stud", "Ergonomic grip")),
    "spur gear": Family(
        nouns=("Spur Gear", "Gear Wheel", "Pinion"),
        materials=("technopolymer", "steel", "brass"),
        sizes={"module": (0.5, 1, 1.5, 2), "teeth": (15, 20, 24, 30, 40)},
        size_format="module {module} z{teeth}", series_number=2,
        attributes=(("Module", "{module}"), ("Number of teeth", "{teeth}"), ("Pressure angle", "20°")),
        weight_range=(4, 380),
        finishes={"technopolymer": ("natural beige", "matte black"), "steel": ("plain, oiled", "black oxide")},
        intros=("The {noun_l} transmits torque between parallel shafts.",
                "Straight-toothed {noun_l} with a plain bore, ready for finishing."),
        applications=("For drives, feeders and positioning mechanisms.",
                      "Quiet running in light-duty gear trains."),
        features=("Straight teeth, pressure angle 20°", "Plain bore", "Hub on one side")),
}
