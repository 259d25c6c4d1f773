"""The seed alloy families of the thesis behind heal (Mou 2023): HEA4 -> HEA5 -> HEA7 -> HEA10.

Each bigger family contains the smaller one, so a campaign can grow from the smaller one's data.
Element order here is the campaign's default type map.
"""

FAMILIES: dict[str, tuple[str, ...]] = {
    "HEA4": ("Ni", "Co", "Cr", "Al"),
    "HEA5": ("Ni", "Co", "Cr", "Al", "Fe"),
    "HEA7": ("Ni", "Co", "Cr", "Fe", "Al", "Ti", "Nb"),
    "HEA10": ("Ni", "Co", "Cr", "Fe", "Al", "Ti", "Nb", "Mo", "W", "C"),
}
