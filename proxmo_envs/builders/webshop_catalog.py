"""Generate the embedded synthetic WebShop catalogue (raw upstream schema), deterministic from a seed.

    python -m proxmo_envs.builders.webshop_catalog --seed 0 --out data/webshop

writes ``items_shuffle_embedded.json`` (products), ``items_ins_v2_embedded.json`` (attributes and
synthetic instructions), ``items_human_ins_embedded.json`` (human-style instructions) and
``items_reviews_embedded.json`` (reviews and average ratings). Products span
23 product types in 6 top categories, with brands, titles, descriptions, bullet points, attributes,
prices or price ranges and options (colours, sizes, flavours, counts, lengths). Near duplicates (same
brand and type, another colour or model) and distractors (same type other colour, same brand other
product) are generated on purpose so that search and option choice matter. No upstream data is used.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLORS = ["black", "white", "navy blue", "light grey", "charcoal", "burgundy", "beige", "olive green",
          "red", "pink", "sky blue", "khaki", "ivory", "teal", "mustard yellow", "coral", "dark green",
          "wine red", "camel brown", "lavender", "silver", "rose gold", "purple", "orange"]
APPAREL_SIZES = ["x-small", "small", "medium", "large", "x-large", "xx-large"]
SHOE_SIZES = ["6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12"]
BED_SIZES = ["twin", "full", "queen", "king", "california king"]


@dataclass(frozen=True)
class ProductType:
    """Vocabulary of one product type (one leaf of the category tree)."""

    category: str  # upstream top category: beauty, fashion, food, furniture, electronics, garden
    path: str  # product_category parts joined by ' › '
    query: str  # the search query the product was scraped under (upstream ``query``)
    nouns: tuple[str, ...]  # title nouns, e.g. ("Running Shoes", "Sneakers")
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]  # title adjectives
    attributes: tuple[str, ...]  # attribute phrases (lowercase), also written into the text
    materials: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...], int, int], ...]  # (name, pool, min count, max count)
    price: tuple[float, float]
    audience: tuple[str, ...] = ("",)


T = ProductType
TYPES: tuple[ProductType, ...] = (
    T("beauty", "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos", "shampoo",
      ("Shampoo", "Moisturizing Shampoo", "Clarifying Shampoo"), ("Verdana Botanics", "Luma Naturals", "Oakridge Apothecary", "Sera Labs"),
      ("Sulfate Free", "Volumizing", "Hydrating", "Color Safe"),
      ("sulfate free", "paraben free", "natural ingredients", "dry hair", "color treated", "cruelty free", "hair growth"),
      ("argan oil", "coconut oil", "tea tree oil", "keratin"),
      (("scent", ("coconut", "argan oil", "tea tree", "unscented", "eucalyptus mint", "lavender"), 1, 3),
       ("size", ("8 fl oz", "12 fl oz", "16 fl oz", "33.8 fl oz"), 1, 3)), (7.0, 32.0)),
    T("beauty", "Beauty & Personal Care › Makeup › Lips › Lipstick", "lipstick",
      ("Matte Lipstick", "Liquid Lipstick", "Lip Stain"), ("Luma Naturals", "Velvetine", "Ciel Beauty", "Maison Rouge"),
      ("Long Wear", "Waterproof", "Creamy", "Transfer Proof"),
      ("long lasting", "cruelty free", "highly pigmented", "paraben free", "easy apply", "non toxic"),
      ("shea butter", "vitamin e", "jojoba oil"),
      (("color", ("red", "coral", "pink", "burgundy", "nude", "plum", "wine red", "rose"), 2, 5),), (6.0, 24.0)),
    T("beauty", "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers › Face Moisturizers", "face moisturizer",
      ("Face Moisturizer", "Night Cream", "Day Cream"), ("Sera Labs", "Verdana Botanics", "Pura Derm", "Oakridge Apothecary"),
      ("Hyaluronic", "Oil Free", "Anti Aging", "Lightweight"),
      ("anti aging", "sensitive skin", "fine lines", "dry skin", "fragrance free", "oil free", "dermatologist tested"),
      ("hyaluronic acid", "retinol", "niacinamide", "ceramides"),
      (("size", ("1.7 oz", "2.5 oz", "3.4 oz"), 1, 3),), (12.0, 58.0)),
    T("beauty", "Beauty & Personal Care › Tools & Accessories › Makeup Brushes & Tools › Brush Sets", "makeup brush set",
      ("Makeup Brush Set", "Brush Kit", "Foundation Brush Set"), ("Ciel Beauty", "Velvetine", "Aurelle", "Maison Rouge"),
      ("Professional", "Synthetic", "Vegan", "Travel"),
      ("synthetic hair", "easy clean", "travel case", "cruelty free", "soft bristles", "high quality"),
      ("wooden handle", "aluminum ferrule"),
      (("color", ("black", "rose gold", "pink", "white", "purple"), 1, 3),
       ("size", ("10 pcs", "14 pcs", "18 pcs"), 1, 2)), (9.0, 36.0)),
    T("fashion", "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running", "running shoes",
      ("Running Shoes", "Trail Running Shoes", "Road Running Sneakers"), ("Stridewell", "Northpace", "Fleetfoot", "Aerix"),
      ("Lightweight", "Breathable", "Cushioned", "Non Slip"),
      ("rubber sole", "non slip", "lace up", "memory foam", "breathable mesh", "arch support", "lightweight design"),
      ("mesh upper", "knit upper", "eva midsole"),
      (("color", COLORS[:16], 2, 4), ("size", tuple(SHOE_SIZES), 3, 6)), (35.0, 140.0), ("Men's", "Women's")),
    T("fashion", "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › T-Shirts", "t-shirt",
      ("T-Shirt", "Crew Neck Tee", "V-Neck T-Shirt"), ("Harbor & Pine", "Northpace", "Common Thread", "Aerix"),
      ("Cotton", "Slim Fit", "Classic", "Relaxed Fit"),
      ("machine wash", "short sleeve", "cotton spandex", "classic fit", "tagless label", "pre shrunk"),
      ("100% cotton", "cotton blend", "modal"),
      (("color", COLORS[:18], 2, 4), ("size", tuple(APPAREL_SIZES), 3, 5)), (9.0, 34.0), ("Men's", "Women's", "Unisex")),
    T("fashion", "Clothing, Shoes & Jewelry › Women › Clothing › Coats, Jackets & Vests › Down & Parkas", "winter jacket",
      ("Winter Jacket", "Puffer Jacket", "Hooded Parka"), ("Harbor & Pine", "Glacierline", "Northpace", "Summit & Co"),
      ("Warm", "Water Resistant", "Quilted", "Packable"),
      ("water resistant", "zipper closure", "detachable hood", "machine wash", "faux fur", "long sleeve"),
      ("polyester", "down fill", "nylon shell"),
      (("color", COLORS[:14], 2, 4), ("size", tuple(APPAREL_SIZES[1:]), 3, 5)), (45.0, 190.0), ("Women's", "Men's")),
    T("fashion", "Clothing, Shoes & Jewelry › Women › Clothing › Active › Leggings", "yoga pants",
      ("Yoga Pants", "High Waist Leggings", "Workout Leggings"), ("Lotus Motion", "Aerix", "Stridewell", "Common Thread"),
      ("High Waist", "Tummy Control", "Squat Proof", "Stretchy"),
      ("high waist", "tummy control", "pull on", "moisture wicking", "four way stretch", "side pocket"),
      ("nylon spandex", "polyester spandex"),
      (("color", COLORS[:12], 2, 4), ("size", tuple(APPAREL_SIZES[:5]), 3, 5)), (15.0, 48.0), ("Women's",)),
    T("fashion", "Clothing, Shoes & Jewelry › Men › Accessories › Sunglasses & Eyewear Accessories › Sunglasses", "sunglasses",
      ("Sunglasses", "Polarized Sunglasses", "Aviator Sunglasses"), ("Solstice Optics", "Aerix", "Harbor & Pine", "Brightline"),
      ("Polarized", "Retro", "Oversized", "Classic"),
      ("uv protection", "polarized lenses", "metal frame", "lightweight frame", "case included"),
      ("acetate", "metal", "tr90"),
      (("color", ("black", "silver", "gold", "tortoise", "navy blue", "rose gold"), 2, 4),), (12.0, 95.0), ("Men's", "Women's", "Unisex")),
    T("food", "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans", "coffee beans",
      ("Whole Bean Coffee", "Coffee Beans", "Espresso Beans"), ("Highland Roasters", "Bean & Ember", "Copper Kettle", "Alta Vista Farms"),
      ("Organic", "Dark Roast", "Medium Roast", "Single Origin"),
      ("fair trade", "usda organic", "single origin", "low acid", "small batch", "non gmo"),
      ("arabica beans",),
      (("flavor name", ("french roast", "house blend", "hazelnut", "vanilla", "colombian", "breakfast blend"), 1, 3),
       ("size", ("12 ounce", "2 pound", "5 pound"), 1, 3)), (9.0, 48.0)),
    T("food", "Grocery & Gourmet Food › Snack Foods › Bars › Protein Bars", "protein bars",
      ("Protein Bars", "Protein Snack Bars", "Keto Bars"), ("FitFuel", "Alta Vista Farms", "Peak Pantry", "Good Grain Co"),
      ("Gluten Free", "High Protein", "Low Sugar", "Keto Friendly"),
      ("gluten free", "low sugar", "high protein", "non gmo", "keto friendly", "plant based"),
      ("whey protein", "pea protein"),
      (("flavor name", ("chocolate chip", "peanut butter", "cookie dough", "salted caramel", "chocolate brownie", "birthday cake"), 2, 4),
       ("size", ("pack of 6", "pack of 12", "pack of 24"), 1, 3)), (12.0, 45.0)),
    T("food", "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea › Herbal", "herbal tea",
      ("Herbal Tea", "Tea Bags", "Caffeine Free Tea"), ("Copper Kettle", "Peak Pantry", "Still Meadow", "Good Grain Co"),
      ("Organic", "Caffeine Free", "Relaxing", "Loose Leaf"),
      ("caffeine free", "usda organic", "non gmo", "individually wrapped", "kosher certified"),
      ("chamomile", "peppermint", "rooibos"),
      (("flavor name", ("chamomile", "peppermint", "ginger", "hibiscus", "lemon", "rooibos"), 2, 4),
       ("size", ("20 count", "40 count", "100 count"), 1, 3)), (5.0, 25.0)),
    T("food", "Grocery & Gourmet Food › Snack Foods › Trail Mix", "trail mix",
      ("Trail Mix", "Nut Mix", "Snack Mix"), ("Peak Pantry", "Still Meadow", "FitFuel", "Good Grain Co"),
      ("Roasted", "Unsalted", "Family Size", "Variety"),
      ("resealable bag", "gluten free", "non gmo", "no artificial", "high protein"),
      ("almonds", "cashews", "dried cranberries"),
      (("flavor name", ("classic", "sweet and salty", "dark chocolate", "tropical", "honey roasted"), 1, 3),
       ("size", ("pack of 1", "pack of 3", "pack of 6"), 1, 3)), (7.0, 38.0)),
    T("furniture", "Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs › Home Office Desk Chairs", "office chair",
      ("Office Chair", "Ergonomic Desk Chair", "Mesh Task Chair"), ("Ardent Home", "Nordhaven", "Loftwell", "Cedar & Stone"),
      ("Ergonomic", "Swivel", "High Back", "Adjustable"),
      ("lumbar support", "height adjustable", "easy assemble", "swivel wheels", "breathable mesh", "padded armrests"),
      ("mesh", "pu leather", "fabric"),
      (("color", ("black", "white", "light grey", "navy blue", "pink", "burgundy"), 1, 4),), (69.0, 320.0)),
    T("furniture", "Home & Kitchen › Furniture › Living Room Furniture › Bookcases", "bookshelf",
      ("Bookshelf", "Bookcase", "Storage Shelf"), ("Nordhaven", "Ardent Home", "Cedar & Stone", "Loftwell"),
      ("5 Tier", "Industrial", "Wooden", "Open"),
      ("easy assemble", "solid wood", "metal frame", "living room", "space saving", "wall mounted"),
      ("engineered wood", "steel", "pine"),
      (("color", ("walnut", "white", "black", "oak", "espresso", "rustic brown"), 1, 4),
       ("size", ("3 tier", "4 tier", "5 tier"), 1, 3)), (39.0, 260.0)),
    T("furniture", "Home & Kitchen › Bedding › Sheets & Pillowcases › Sheet & Pillowcase Sets", "bed sheets",
      ("Bed Sheet Set", "Sheets", "Microfiber Sheet Set"), ("Driftwood Linens", "Nordhaven", "Loftwell", "Still Meadow"),
      ("Soft", "Deep Pocket", "Cooling", "Wrinkle Free"),
      ("deep pocket", "machine wash", "wrinkle free", "fade resistant", "hypoallergenic", "breathable fabric"),
      ("microfiber", "egyptian cotton", "bamboo"),
      (("color", COLORS[:14], 2, 4), ("size", tuple(BED_SIZES), 2, 4)), (22.0, 110.0)),
    T("furniture", "Home & Kitchen › Home Décor Products › Decorative Pillows, Inserts & Covers › Throw Pillow Covers", "throw pillow covers",
      ("Throw Pillow Covers", "Cushion Covers", "Decorative Pillow Cases"), ("Driftwood Linens", "Cedar & Stone", "Ardent Home", "Willow Row"),
      ("Velvet", "Boho", "Linen", "Set of 2"),
      ("hidden zipper", "living room", "machine wash", "double sided", "soft velvet"),
      ("velvet", "linen", "cotton canvas"),
      (("color", ("mustard yellow", "olive green", "navy blue", "beige", "coral", "teal", "light grey"), 2, 4),
       ("size", ("16 x 16 inch", "18 x 18 inch", "20 x 20 inch"), 1, 3)), (9.0, 30.0)),
    T("electronics", "Electronics › Headphones, Earbuds & Accessories › Earbuds", "wireless earbuds",
      ("Wireless Earbuds", "Bluetooth Earbuds", "True Wireless Earphones"), ("Sonique", "Voltaic", "Pulsewave", "Brightline"),
      ("Noise Cancelling", "Waterproof", "Sport", "Compact"),
      ("noise cancelling", "charging case", "bluetooth 5.3", "long battery life", "hands free", "fast charging"),
      ("abs plastic",),
      (("color", ("black", "white", "navy blue", "pink", "silver", "dark green"), 1, 4),), (19.0, 180.0)),
    T("electronics", "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases", "phone case",
      ("Phone Case", "Protective Case", "Slim Case"), ("Voltaic", "Armorline", "Brightline", "Pulsewave"),
      ("Shockproof", "Slim", "Clear", "Magnetic"),
      ("shock absorbing", "wireless charging", "raised edges", "scratch resistant", "military grade"),
      ("tpu", "polycarbonate", "silicone"),
      (("color", ("black", "clear", "navy blue", "pink", "purple", "red", "dark green"), 2, 4),
       ("size", ("iphone 13", "iphone 14", "iphone 14 pro", "iphone 15", "galaxy s23"), 1, 3)), (8.0, 35.0)),
    T("electronics", "Electronics › Computers & Accessories › Cables & Accessories › Cables & Interconnects › USB Cables", "usb c cable",
      ("USB C Cable", "Charging Cable", "Fast Charger Cord"), ("Voltaic", "Armorline", "Sonique", "Ampere Works"),
      ("Braided", "Fast Charging", "Durable", "Long"),
      ("fast charging", "nylon braided", "data transfer", "high speed", "tangle free"),
      ("nylon", "aluminum"),
      (("size", ("3 ft", "6 ft", "10 ft"), 1, 3), ("style", ("1 pack", "2 pack", "3 pack")[:3], 1, 2)), (6.0, 22.0)),
    T("electronics", "Electronics › Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers", "bluetooth speaker",
      ("Bluetooth Speaker", "Portable Speaker", "Wireless Speaker"), ("Sonique", "Pulsewave", "Voltaic", "Ampere Works"),
      ("Waterproof", "Portable", "Loud", "Outdoor"),
      ("waterproof", "long battery life", "stereo sound", "hands free", "built in microphone", "usb charging"),
      ("fabric", "rubber"),
      (("color", ("black", "navy blue", "red", "dark green", "light grey", "orange"), 1, 4),), (22.0, 150.0)),
    T("garden", "Patio, Lawn & Garden › Watering Equipment › Garden Hoses", "garden hose",
      ("Garden Hose", "Expandable Hose", "Water Hose"), ("Greenreach", "Terra Firma", "Willow Row", "Cedar & Stone"),
      ("Expandable", "Heavy Duty", "Kink Free", "Lightweight"),
      ("heavy duty", "leak proof", "kink free", "brass fittings", "easy storage"),
      ("latex core", "brass"),
      (("size", ("25 ft", "50 ft", "75 ft", "100 ft"), 1, 4), ("color", ("black", "dark green", "sky blue"), 1, 2)), (18.0, 70.0)),
    T("garden", "Patio, Lawn & Garden › Gardening & Lawn Care › Pots, Planters & Container Accessories › Planters", "plant pots",
      ("Plant Pots", "Ceramic Planters", "Flower Pots"), ("Terra Firma", "Greenreach", "Willow Row", "Nordhaven"),
      ("Ceramic", "Modern", "Set of 3", "Indoor"),
      ("drainage hole", "indoor plants", "ceramic planter", "saucer included", "modern design"),
      ("ceramic", "terracotta", "plastic"),
      (("color", ("white", "black", "terracotta", "sage green", "beige"), 1, 3),
       ("size", ("4 inch", "6 inch", "8 inch"), 1, 3)), (14.0, 55.0)),
)
_AUDIENCE_NOUN = {"Men's": "men", "Women's": "women", "Unisex": "unisex", "": ""}

INSTRUCTION_TEMPLATES = (
    "i need {a0} {q}",
    "i am looking for {a0} {q}",
    "i want {a0}, {a1} {q}",
    "find me {a0}, {a1} {q}",
    "i'm looking for {q} that is {a0}",
    "i would like {q} with {a0} and {a1}",
    "look for {a0} {q}",
    "get me {q} that is {a0} and {a1}",
    "i want to buy {q} which are {a0}, and {a1}",
    "i am looking for {a0} {q} for {aud}",
)
HUMAN_TEMPLATES = (
    "i'm looking for a {opt} {q} that's {a0}.",
    "i need {q} in {opt}, it should be {a0}.",
    "i want a pair of {a0} {q}, {opt} please.",
    "can you find me {a0} {q} in {opt}?",
    "looking for {opt} {q} with {a0}.",
)


def _asin(rng: np.random.Generator, used: set[str]) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), size=8))
        if asin not in used:
            used.add(asin)
            return asin


def _pick(rng: np.random.Generator, pool, k: int) -> list:
    k = min(k, len(pool))
    return [pool[int(i)] for i in sorted(rng.choice(len(pool), size=k, replace=False))]


def _price(rng: np.random.Generator, lo: float, hi: float, ranged: bool, empty: bool) -> str:
    if empty:
        return ""
    p = float(np.round(rng.uniform(lo, hi), 0)) - 0.01
    if ranged:
        high = float(np.round(p * rng.uniform(1.2, 1.8), 0)) - 0.01
        return f"${p:.2f} - ${high:.2f}"
    return f"${p:.2f}"


def _make_product(t: ProductType, rng: np.random.Generator, text_rng: np.random.Generator, used: set[str],
                  brand: str | None = None, title_color: str | None = None, model: str | None = None) -> dict:
    brand = brand or t.brands[int(rng.integers(len(t.brands)))]
    noun = t.nouns[int(rng.integers(len(t.nouns)))]
    adjectives = _pick(rng, t.adjectives, int(rng.integers(1, 3)))
    audience = t.audience[int(rng.integers(len(t.audience)))]
    material = t.materials[int(rng.integers(len(t.materials)))]
    attributes = _pick(rng, t.attributes, int(rng.integers(3, min(6, len(t.attributes)) + 1)))
    options = {}
    for name, pool, lo, hi in t.options:
        values = _pick(rng, pool, int(rng.integers(lo, hi + 1)))
        if name == "color" and title_color is not None and title_color not in values:
            values = [title_color] + values[:-1] if len(values) > 1 else [title_color]
        options[name] = values
    model = model or f"{''.join(ch for ch in brand if ch.isupper())[:2]}-{int(rng.integers(100, 990))}"
    parts = [brand, " ".join(adjectives)]
    if title_color is not None:
        parts.append(title_color.title())
    if audience:
        parts.append(audience)
    parts.append(noun)
    extra = attributes[0].title()
    title = " ".join(p for p in parts if p) + f", {extra}, {material.title()}, Model {model}"
    description, bullets = _texts(text_rng, t, brand, noun, material, attributes, options)
    ranged = bool(options) and rng.random() < 0.25
    pricing = _price(rng, *t.price, ranged=ranged, empty=rng.random() < 0.01)
    asin = _asin(rng, used)
    custom = {name.title(): [{"value": v, "image": None} for v in values] for name, values in options.items()}
    return {
        "name": title,
        "product_information": {"ASIN": asin},
        "brand": f"Brand: {brand}",
        "full_description": description,
        "pricing": pricing,
        "list_price": "",
        "images": [],
        "product_category": t.path,
        "average_rating": "",
        "small_description": bullets,
        "customization_options": custom or "",
        "asin": asin,
        "category": t.category,
        "query": t.query,
        "_attributes": attributes,
        "_audience": _AUDIENCE_NOUN[audience],
    }


BULLET_TEMPLATES = (
    "{A}: made for everyday use and easy care",
    "{A} - a detail you will notice every day",
    "Features {a}, so you can use it with confidence",
    "{A}; tested by {brand} for quality and durability",
    "Our {noun} is {a} and finished in {material}",
    "{A} design that keeps its shape and performance over time",
    "{A} for comfort and value",
)
CARE = {
    "beauty": ("Dermatologist tested formula", "Store in a cool, dry place", "Not tested on animals"),
    "fashion": ("Imported", "Check the size chart before ordering", "Machine wash cold, tumble dry low"),
    "food": ("Packed in a facility that also handles tree nuts", "Store in a cool, dry place", "Best before date printed on the package"),
    "furniture": ("Assembly instructions and hardware included", "Wipe clean with a damp cloth", "Ships in one box"),
    "electronics": ("12-month limited warranty", "Package includes a user manual", "Compatible with most devices"),
    "garden": ("Suitable for indoor and outdoor use", "Rinse and dry before storing", "UV resistant materials"),
}
DESCRIPTION_OPENERS = (
    "The {brand} {noun} is made of {material} and built for everyday use.",
    "Meet the {brand} {noun}: {material} construction and a clean, modern look.",
    "{brand} designed this {noun} around {material} for people who want something that simply works.",
    "Looking for a dependable {noun}? This one from {brand} uses {material}.",
)
DESCRIPTION_MIDDLES = (
    "It is {a1} and {a2}, a combination you rarely find at this price.",
    "With {a1} and {a2}, it fits right into your routine.",
    "Customers choose it because it is {a1}; {a2} is a welcome bonus.",
)
DESCRIPTION_CLOSERS = (
    "Backed by {brand} customer support.",
    "What you see is what you get: no hidden extras.",
    "A great gift for family and friends.",
    "",
)


def _texts(rng: np.random.Generator, t: ProductType, brand: str, noun: str, material: str, attributes: list[str],
           options: dict[str, list[str]]) -> tuple[str, list[str]]:
    """Description and bullet points (every attribute appears verbatim, as in real WebShop products)."""
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731
    noun_l = noun.lower()
    description = " ".join(x for x in (
        pick(DESCRIPTION_OPENERS).format(brand=brand, noun=noun_l, material=material),
        pick(DESCRIPTION_MIDDLES).format(a1=attributes[1], a2=attributes[2]),
        pick(DESCRIPTION_CLOSERS).format(brand=brand),
    ) if x)
    bullets = [pick(BULLET_TEMPLATES).format(A=a.capitalize(), a=a, brand=brand, noun=noun_l, material=material)
               for a in attributes]
    bullets.insert(int(rng.integers(len(bullets) + 1)), f"Material: {material}")
    bullets.append(pick(CARE[t.category]))
    if options:
        bullets.append("Available in " + "; ".join(f"{k}: {', '.join(v)}" for k, v in options.items()))
    return description, bullets


def _instruction(t: ProductType, product: dict, rng: np.random.Generator) -> tuple[str, list[str]]:
    attrs = _pick(rng, product["_attributes"], int(rng.integers(1, 3)))
    template = INSTRUCTION_TEMPLATES[int(rng.integers(len(INSTRUCTION_TEMPLATES)))]
    if "{a1}" in template and len(attrs) < 2:
        attrs = _pick(rng, product["_attributes"], 2)
    if "{aud}" in template and not product["_audience"]:
        template = "i need {a0} {q}"
    text = template.format(a0=attrs[0], a1=attrs[-1], q=t.query, aud=product["_audience"])
    return text[0].upper() + text[1:] if rng.random() < 0.3 else text, attrs


REVIEW_TITLES = {
    5: ("Love it", "Exactly as described", "Great {noun}", "Five stars", "Would buy again"),
    4: ("Very good", "Good value", "Nice {noun}", "Happy with it", "Solid choice"),
    3: ("It's okay", "Decent for the price", "Mixed feelings", "Average {noun}"),
    2: ("Not great", "Expected more", "Runs small"),
    1: ("Disappointed", "Returned it", "Not as pictured"),
}
REVIEW_BODIES = {
    5: ("The {a} really shows. I use my {noun} every day.", "Arrived quickly and the {a} is as advertised.",
        "Bought a second one as a gift; {a} and well made."),
    4: ("Good quality overall, {a} as promised, packaging could be better.", "Does the job. The {a} is a plus."),
    3: ("Fine, but the {a} is not as good as I hoped.", "Works, nothing special."),
    2: ("The {a} wore off after a few weeks.", "Smaller than I expected."),
    1: ("Broke after two uses.", "Nothing like the photos, {a} is not true."),
}


def _reviews(rng: np.random.Generator, products: list[dict], rate: float = 0.65) -> list[dict]:
    """Upstream-format reviews file entries for a share of the products (own RNG stream)."""
    out = []
    for p in products:
        if rng.random() >= rate:
            continue
        noun = p["query"]
        reviews = []
        for _ in range(int(rng.integers(1, 4))):
            stars = int(rng.choice([5, 4, 3, 2, 1], p=[0.45, 0.3, 0.12, 0.08, 0.05]))
            a = p["_attributes"][int(rng.integers(len(p["_attributes"])))]
            title = REVIEW_TITLES[stars][int(rng.integers(len(REVIEW_TITLES[stars])))].format(noun=noun)
            body = REVIEW_BODIES[stars][int(rng.integers(len(REVIEW_BODIES[stars])))].format(noun=noun, a=a)
            reviews.append({"title": title, "stars": stars, "review": body})
        out.append({"asin": p["asin"], "reviews": reviews,
                    "average_rating": round(sum(r["stars"] for r in reviews) / len(reviews), 1)})
    return out


def generate(seed: int = 0, n_products: int = 1100, instruction_rate: float = 0.78, human_rate: float = 0.35):
    """Build ``(products, attributes, human, reviews)`` in the raw schema (JSON-ready), deterministic from
    ``seed``."""
    rng = np.random.default_rng(seed)
    text_rng = np.random.default_rng([seed, 1])  # wording only: structure does not depend on it
    used: set[str] = set()
    products: list[tuple[ProductType, dict]] = []
    while len(products) < n_products:
        t = TYPES[int(rng.integers(len(TYPES)))]
        base = _make_product(t, rng, text_rng, used)
        products.append((t, base))
        roll = rng.random()
        if roll < 0.25 and "color" in dict((o[0], o) for o in t.options):
            # distractor: same brand, same type, another colour in the title and options
            colors = dict((o[0], o[1]) for o in t.options)["color"]
            products.append((t, _make_product(t, rng, text_rng, used, brand=base["brand"][7:], title_color=colors[int(rng.integers(len(colors)))])))
        elif roll < 0.40:
            # near duplicate: same brand and type, another model number
            products.append((t, _make_product(t, rng, text_rng, used, brand=base["brand"][7:])))
        elif roll < 0.50:
            # same brand, other product type of the same top category
            same_cat = [u for u in TYPES if u.category == t.category and u is not t and base["brand"][7:] in u.brands]
            if same_cat:
                u = same_cat[int(rng.integers(len(same_cat)))]
                products.append((u, _make_product(u, rng, text_rng, used, brand=base["brand"][7:])))
    products = products[:n_products]
    order = rng.permutation(len(products))  # the file is shuffled, as items_shuffle is
    products = [products[int(i)] for i in order]

    attributes: dict[str, dict] = {}
    human: dict[str, list] = {}
    out = []
    for t, p in products:
        entry = {"attributes": list(p["_attributes"])}
        if rng.random() < instruction_rate:
            text, attrs = _instruction(t, p, rng)
            entry["instruction"] = text
            entry["instruction_attributes"] = attrs
        attributes[p["asin"]] = entry
        if rng.random() < human_rate:
            opts = [vals[int(rng.integers(len(vals)))]["value"] for vals in (p["customization_options"] or {}).values()]
            a0 = p["_attributes"][int(rng.integers(len(p["_attributes"])))]
            template = HUMAN_TEMPLATES[int(rng.integers(len(HUMAN_TEMPLATES)))]
            human[p["asin"]] = [{
                "asin": p["asin"],
                "instruction": template.format(opt=" ".join(opts) or "any style", q=t.query, a0=a0),
                "instruction_attributes": [a0],
                "instruction_options": opts,
            }]
        out.append({k: v for k, v in p.items() if not k.startswith("_")})
    reviews = _reviews(np.random.default_rng([seed, 2]), [p for _, p in products])
    return out, attributes, human, reviews


def write(out_dir: str | Path, seed: int = 0, n_products: int = 1100) -> dict[str, Path]:
    """Generate and write the three files into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    products, attributes, human, reviews = generate(seed=seed, n_products=n_products)
    paths = {
        "products": out_dir / "items_shuffle_embedded.json",
        "attributes": out_dir / "items_ins_v2_embedded.json",
        "human": out_dir / "items_human_ins_embedded.json",
        "reviews": out_dir / "items_reviews_embedded.json",
    }
    for key, data in (("products", products), ("attributes", attributes), ("human", human), ("reviews", reviews)):
        with open(paths[key], "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-products", type=int, default=1100)
    ap.add_argument("--out", default="data/webshop")
    args = ap.parse_args(argv)
    write(args.out, seed=args.seed, n_products=args.n_products)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
