"""Build the binary demo documents (3 PDFs, 1 DOCX) in examples/knowledge/.

Run once with `.venv/bin/python examples/make_pdfs.py`; the outputs are kept in the repository.
PDFs use the core Helvetica font, so their text must stay Latin-1 (English only).
"""

from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from fpdf import FPDF

KNOWLEDGE = Path(__file__).parent / "knowledge"
FIXED_DATE = datetime(2025, 11, 1, tzinfo=UTC)  # fixed so reruns give identical metadata

# A document is a title plus sections; a section is a heading and lines ("- " starts a bullet).
Section = tuple[str, list[str]]

WARRANTY_TERMS: list[Section] = [
    ("1. Who gives this warranty", [
        ("This limited warranty is given by Northwind Gadgets, Inc., 2100 Harbor Way, Suite 400, Portland, "
        "OR 97209, USA, to the first buyer of a new Northwind Gadgets device bought from Northwind Gadgets "
        "or an authorized retailer."),
    ]),
    ("2. Warranty period", [
        "- Devices: 2 years from the date of delivery.",
        "- Accessories sold separately (cables, cases, ear tips, straps, replacement batteries): 1 year.",
        "- Replacement devices: the rest of the original period or 90 days, whichever is longer.",
        "- Northwind Care+: the period is extended to 3 years in total from the date of delivery.",
    ]),
    ("3. What we will do", [
        ("If a covered defect appears during the warranty period, we will, at our option, repair the device, "
        "replace it with a new or refurbished device of equal function, or refund the purchase price if "
        "repair and replacement are not possible. Shipping to and from our repair center is free for "
        "approved warranty claims in the countries we ship to."),
    ]),
    ("4. Batteries", [
        ("A battery is defective if it holds less than 80% of its rated capacity within the warranty period "
        "under normal use. Capacity is measured by our diagnostic tools at the repair center."),
    ]),
    ("5. Exclusions", [
        "- Accidental damage, including drops, impacts, crushing and cracked screens.",
        "- Liquid damage beyond the ingress protection rating stated for the product.",
        ("- Damage caused by repairs or modifications by anyone other than Northwind Gadgets or its "
        "authorized service partners."),
        "- Damage caused by chargers or power supplies above the rated input of the device.",
        "- Normal wear and cosmetic damage that does not affect function.",
        "- Loss or theft of the device or any part of it.",
        "- Software, apps and data, including the loss of photos, videos or settings.",
    ]),
    ("6. Northwind Care+ accidental damage claim", [
        ("Care+ includes one accidental damage claim (drops and liquid) during its term. A service fee of "
         "$19 applies per claim. Care+ must be bought within 60 days of the device purchase and is available "
         "in the United States and Canada only. Lost or stolen devices are not covered."),
    ]),
    ("7. How to claim", [
        ("Claims are made in your Northwind account under Support > Warranty claim, or by contacting "
         "Northwind Support. You need the order number (format NWG-YYYY-NNNNNN) or another proof of "
         "purchase, and the device serial number (NWS followed by 10 characters). Approved claims receive a "
         "repair ticket number (format RPR-NNNNNN)."),
    ]),
    ("8. Consumer law", [
        ("This warranty is in addition to your rights under consumer law. Customers in the European Union "
         "and the United Kingdom have a legal guarantee of conformity of at least 2 years against the "
         "seller, which this warranty does not limit. Where local law gives you more rights, those rights "
         "apply."),
    ]),
    ("9. Limitation of liability", [
        ("To the extent permitted by law, Northwind Gadgets is not liable for indirect or consequential "
         "loss, including loss of data, arising from a defect in a device. Our liability is limited to the "
         "purchase price of the device."),
    ]),
]

AEROBUDS_MANUAL: list[Section] = [
    ("Getting started", [
        "Thank you for choosing AeroBuds Pro (NW-4471). Charge the case for 1 hour before first use.",
        "- Open the case lid near your phone. The case light blinks white: the earbuds are ready to pair.",
        "- On iPhone or Android, a pop-up appears in the Northwind Connect app. Tap Connect.",
        "- Without the app, open Bluetooth settings and choose AeroBuds Pro.",
    ]),
    ("Pairing a second device", [
        ("AeroBuds Pro support multipoint: two devices connected at the same time. Put the earbuds in the "
         "case, leave the lid open and press the button on the back of the case for 3 seconds until the "
         "light blinks white, then choose AeroBuds Pro on the second device."),
    ]),
    ("Case light", [
        "- Green: battery above 50%.",
        "- Amber: battery between 10% and 50%.",
        "- Red: battery below 10%, charge soon.",
        "- Blinking white: pairing mode.",
        "- Blinking red: charging error. See error E-120 in the troubleshooting guide.",
    ]),
    ("Battery and charging", [
        ("The earbuds play up to 8 hours with noise cancelling on and 10 hours with it off. The case adds "
        "charges for a total of 32 hours. Ten minutes of charging gives 2 hours of listening. Charge the "
        "case with the USB-C cable or on any Qi wireless charger, such as the VoltDock 3-in-1 (NW-7710)."),
    ]),
    ("Wearing and ear tips", [
        ("Four pairs of ear tips are included: S, M and L silicone and M memory foam. Use the Fit test in "
         "the app to choose the size that seals best; a good seal improves bass and noise cancelling."),
    ]),
    ("Care and safety", [
        "- AeroBuds Pro are rated IPX4: they resist sweat and splashes. Do not swim or shower with them.",
        "- Dry the earbuds before putting them in the case. The case is not water resistant.",
        "- Do not expose the product to temperatures above 45 C or below 0 C.",
        "- Listening at high volume for long periods can damage your hearing.",
    ]),
    ("Warranty", [
        ("AeroBuds Pro have a 2-year limited warranty. Lost earbuds are not covered, but a single "
         "replacement earbud can be bought from Northwind Support. Keep your order number (NWG-YYYY-NNNNNN) "
         "and the serial number (starts with NWS) for warranty claims."),
    ]),
]

TRAILCAM_QUICKSTART: list[Section] = [
    ("1. Insert the battery and card", [
        ("Open the side door of the TrailCam 4K (NW-5530), insert the battery with the label facing the "
         "lens, and insert a U3 / V30 microSD card (up to 512 GB) with the label facing the battery. Close "
         "the door until the orange stripe is hidden."),
    ]),
    ("2. Charge", [
        ("Connect the USB-C cable. The status light is red while charging and turns off when full. A full "
        "charge takes about 2 hours with a 5 V / 2 A adapter."),
    ]),
    ("3. Turn on and record", [
        "- Hold the Mode button for 3 seconds to turn the camera on.",
        "- Press the Mode button to switch between video, photo, slow motion and time-lapse.",
        "- Press the Shutter button to start and stop recording.",
        "- Hold the Mode button for 3 seconds again to turn it off.",
    ]),
    ("4. Connect to the app", [
        ("Install Northwind Connect, tap Add device > TrailCam 4K and follow the steps. The app controls the "
        "camera, shows a live preview and downloads clips over Wi-Fi."),
    ]),
    ("5. Video settings", [
        "- 4K at 30 fps: best detail, about 90 minutes per battery.",
        "- 2.7K at 60 fps: best with stabilization for cycling and running.",
        "- 1080p at 120 fps: slow motion, stabilization off.",
    ]),
    ("6. Water", [
        ("The camera is waterproof to 10 m without a case. For diving to 60 m use the dive housing "
         "(NW-5538). Rinse with fresh water after use in the sea."),
    ]),
    ("7. Error messages", [
        "- E-510: memory card too slow. Use a U3 / V30 card.",
        "- E-520: memory card full or not formatted. Format it in Settings > Card > Format.",
    ]),
]

REPAIR_GUIDE: list[Section] = [
    ("Warranty repairs", [
        ("Devices within the 2-year warranty are repaired free of charge. Start a claim under Support > "
        "Warranty claim. You receive a repair ticket number (RPR- followed by six digits) and a prepaid "
        "shipping label."),
    ]),
    ("Repair centers", [
        "- United States and Canada: Reno, Nevada",
        "- United Kingdom and European Union: Rotterdam, Netherlands",
        "- Mainland China and Asia: Shenzhen, China",
    ]),
    ("Turnaround time", [
        ("Repairs take 7 to 10 business days after the device arrives at the repair center, plus return "
        "shipping. You can follow each step under Orders > Repairs in your account."),
    ]),
    ("Out-of-warranty repairs", [
        ("Devices outside the warranty, or with damage the warranty does not cover, can be repaired for a "
         "flat fee. We send a quote after diagnosis; it is valid for 30 days. If you decline the quote, a "
         "$15 diagnostic fee applies and the device is sent back to you. Repaired parts carry a 90-day "
         "warranty."),
    ]),
    ("Flat repair fees (US)", [
        "- AeroBuds Pro (NW-4471) single replacement earbud, left or right: $49",
        "- AeroBuds (NW-4470) single replacement earbud: $35",
        "- AeroBuds Pro replacement case (NW-4479): $39",
        "- PulseBand 2 (NW-6120) battery service: $29",
        "- TrailCam 4K (NW-5530) rear screen replacement: $59",
        "- SkyLens Mini (NW-8804) gimbal repair: $89",
        "- SkyLens Mini propeller arm replacement: $39 per arm",
        "- Out-of-warranty return shipping in the US: $9.95",
    ]),
    ("Before you send a device", [
        "- Back up photos and videos; repairs may erase the device.",
        "- Remove memory cards, straps and cases unless Support asks for them.",
        "- Turn off Find my drone for the SkyLens Mini and remove the device from your account if asked.",
        "- Pack the device in its original box or a padded box. Do not include chargers.",
    ]),
    ("Replacement instead of repair", [
        ("Earbuds and smart plugs are replaced rather than repaired. For AeroBuds and AeroBuds Pro, "
         "replacement earbuds are paired to your case before we ship them."),
    ]),
]


def write_pdf(path: Path, title: str, sections: list[Section]) -> None:
    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_author("Northwind Gadgets")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for heading, lines in sections:
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10.5)
        for line in lines:
            text = "  * " + line[2:] if line.startswith("- ") else line
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.output(str(path))


def write_docx(path: Path, title: str, sections: list[Section]) -> None:
    doc = Document()
    doc.core_properties.title = title
    doc.core_properties.author = "Northwind Gadgets"
    doc.core_properties.created = doc.core_properties.modified = FIXED_DATE
    doc.add_heading(title, level=1)
    for heading, lines in sections:
        doc.add_heading(heading, level=2)
        for line in lines:
            if line.startswith("- "):
                doc.add_paragraph(line[2:], style="List Bullet")
            else:
                doc.add_paragraph(line)
    doc.save(str(path))


def main() -> None:
    write_pdf(KNOWLEDGE / "warranty-terms.pdf", "Northwind Gadgets Limited Warranty: Full "
                                                "Terms", WARRANTY_TERMS)
    write_pdf(KNOWLEDGE / "aerobuds-pro-manual.pdf", "AeroBuds Pro (NW-4471) User Manual", AEROBUDS_MANUAL)
    write_pdf(KNOWLEDGE / "trailcam-4k-quickstart.pdf", "TrailCam 4K (NW-5530) Quick Start Guide",
              TRAILCAM_QUICKSTART)
    write_docx(KNOWLEDGE / "repair-service-guide.docx", "Northwind Repair Service Guide", REPAIR_GUIDE)


if __name__ == "__main__":
    main()
