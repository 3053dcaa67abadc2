"""Hand-written templates for the demo training conversations (used by make_training_data.py).

Each scenario is one thing customers ask. `users` are alternative phrasings of the first user turn; `reply`
is the factual core of the answer (the generator adds a greeting, closing and sign-off in the chosen style).
A non-empty `after` makes a multi-turn conversation: `reply` asks for the order number, the customer gives it,
and `after` answers.
`wrong` is a plausible but wrong or guessing answer, used as the rejected side of preference pairs.
Slots: {order} (an order number), {product} and {code} (a product and its code).
All facts follow examples/knowledge/.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    intent: str
    lang: str
    users: list[str]
    reply: str
    after: str = ""
    wrong: str = ""
    products: list[tuple[str, str]] = field(default_factory=list)


EARBUDS = [("AeroBuds Pro", "NW-4471"), ("AeroBuds", "NW-4470")]
DEVICES = [("AeroBuds Pro", "NW-4471"), ("PulseBand 2", "NW-6120"), ("TrailCam 4K", "NW-5530"),
           ("VoltDock 3-in-1", "NW-7710"), ("PowerCell 20K", "NW-1108"), ("HomeSpark Smart Plug", "NW-2210")]
DEVICES_ZH = [("AeroBuds Pro 耳机", "NW-4471"), ("PulseBand 2 手环", "NW-6120"),
              ("TrailCam 4K 运动相机", "NW-5530")]

E = "en"
Z = "zh"

SCENARIOS: list[Scenario] = [
    # ---- returns ----
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I bought the {product} a couple of weeks ago and I don't really like it. Can I send it back?",
            "Is it too late to return my {product}? It arrived about two weeks ago.",
            "I'd like to return the {product} I got recently. Is that possible?",
        ],
        reply="Yes, you can. You have 30 days from delivery to return the {product} ({code}) for a refund "
        "or exchange (45 days if you're a Rewards Gold or Platinum member). Start the return under Orders > "
        "Return items; you'll get an RMA number and a prepaid UPS label. For a change-of-mind return, a "
        "$6.95 label fee is taken off the refund.",
        products=DEVICES,
        wrong="Returns are only accepted within 14 days, and you'll need to pay for shipping yourself.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "How do I actually start a return? I can't find the button.",
            "Where do I go on the website to send something back?",
            "What are the steps to return an item?",
        ],
        reply="Sign in, open Orders, pick the order and click Return items. Choose the items and a reason, "
        "and you'll receive a return authorization number (RMA followed by five digits) with a prepaid "
        "label. Drop the package at any UPS location within 14 days. If you ordered as a guest, use Find my "
        "order with your order number and email address first.",
        wrong="Just mail it back to our Portland office with a note inside.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "My RMA expired before I could ship the package. What now?",
            "I never dropped off my return and the RMA is over two weeks old. Is it still valid?",
        ],
        reply="An RMA is valid for 14 days. Once it has expired, simply request a new one under Orders > "
        "Return items, as long as you're still within your return window. Please use the new label, since "
        "the old one no longer works.",
        wrong="Expired RMAs can't be renewed, so the item can no longer be returned.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "The {product} I received is the wrong color. Do I have to pay to send it back?",
            "You sent me the wrong item. Who pays for the return shipping?",
        ],
        reply="I'm sorry about the mix-up! When we send the wrong item or it's defective, return shipping "
        "is free and nothing is deducted from your refund. Start the return under Orders > Return items and "
        "pick \"Wrong item received\" as the reason.",
        products=DEVICES,
        wrong="Return shipping is $6.95 for every return, no exceptions.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I got the {product} on clearance. Can I return it?",
            "Are open-box items returnable?",
        ],
        reply="Items marked Final Sale (clearance and open-box) can't be returned, I'm afraid. They're "
        "still fully covered by the 2-year warranty, so if anything is wrong with it, we'll repair or "
        "replace it.",
        products=DEVICES,
        wrong="Sure, clearance items follow the normal 30-day return policy.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I want to swap my {product} for a different color.",
            "Can I exchange my {product} for another model?",
        ],
        reply="Happy to sort that out. Exchanges are handled as a return plus a new order so you get the "
        "new item as quickly as possible: place the new order, then return the {product} under Orders > "
        "Return items. Any price difference is charged or refunded to your original payment method.",
        products=DEVICES,
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I bought the {product} as a Christmas gift in early December. How long can it be returned?",
            "Is there an extended return period for holiday purchases?",
        ],
        reply="Yes. Anything bought between November 15 and December 31 can be returned until January 31 of "
        "the following year, so there's plenty of time after the holidays.",
        products=DEVICES,
        wrong="Holiday purchases have the usual 30 days from delivery, no extension.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I need to return something but I'm not sure which order it was on.",
            "I want to send back a return, can you help?",
        ],
        reply="Of course. Could you share your order number? It looks like NWG-YYYY-NNNNNN and is in your "
        "confirmation email.",
        after="Thanks! For order {order}, open Orders, select it and click Return items. Pick the items and "
        "a reason and you'll get an RMA number and a prepaid label. Please drop it at a UPS location within "
        "14 days.",
    ),
    # ---- refunds (returns intent) ----
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "I sent my return back a week ago. When will I see my money?",
            "How long do refunds take after you get the item back?",
        ],
        reply="Once your return arrives, inspection takes up to 5 business days, and then we issue the "
        "refund to your original payment method. Your bank may need another 3 to 10 business days to show "
        "it; PayPal is usually within 24 hours.",
        wrong="Refunds take about 30 days in total.",
    ),
    Scenario(
        intent="returns",
        lang=E,
        users=[
            "Can I get store credit instead of a refund?",
            "Is there any benefit to taking store credit?",
        ],
        reply="Yes! Store credit is issued right after inspection and includes a 10% bonus, so a $100 refund "
        "becomes $110 of credit. It never "
        "expires.",
        wrong="Store credit is the same amount as the refund and expires after a year.",
    ),
    # ---- shipping ----
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "How much is shipping to {city}?",
            "What does standard delivery cost if I live in {city}?",
            "I'm in {city}. How long will standard shipping take?",
        ],
        reply="Standard shipping within the US takes 3 to 5 business days after the order ships and costs "
        "$5.99; it's free on orders of $49 or more. Express (1 to 2 business days) is $14.99, and Next-Day "
        "is $24.99 if you order by 1:00 pm ET.",
        wrong="Shipping is a flat $10 and takes about two weeks.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Where is my package? It's been a week.",
            "My order still hasn't arrived. Can you check on it?",
            "Tracking hasn't updated in days. What's going on with my order?",
        ],
        reply="I'm sorry for the wait. Could you send me your order number? It starts with NWG followed by "
        "the year and six digits.",
        after="Thank you. I've passed order {order} to our shipping team, who will check with the carrier "
        "and email you within 1 business day. Standard US delivery is 3 to 5 business days after shipping; "
        "if the package is lost, we'll send a replacement at no cost.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Tracking says delivered but there's nothing at my door.",
            "The carrier marked my package as delivered, but I never got it.",
        ],
        reply="That's frustrating, I'm sorry. Carriers sometimes mark packages delivered a little early, so "
        "please wait 48 hours and check with neighbors. If it still hasn't turned up, reply with your order "
        "number and we'll send a replacement or refund.",
        wrong="Once it's marked delivered there's nothing we can do.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "My {product} arrived with a crushed box and it's scratched.",
            "The package came damaged. What should I do?",
        ],
        reply="I'm sorry it arrived like that. Please take photos of the box and the item and send them to "
        "us with your order number within 7 days of delivery. We'll ship a replacement at no cost.",
        products=DEVICES,
        wrong="Damage in transit is the carrier's responsibility, so please file a claim with UPS.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Do you ship to {country}?",
            "Can I order from {country}?",
        ],
        reply="Yes, we ship to {country}. International Standard takes 7 to 14 business days and costs "
        "$19.99 (free on orders of $150 or more), and International Express by DHL takes 3 to 5 business "
        "days for $39.99.",
        wrong="We only ship within the United States.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Will I have to pay import tax in {eu_country}?",
            "Are customs fees included when I order to {eu_country}?",
        ],
        reply="For {eu_country}, VAT and duties are calculated and charged at checkout (Delivered Duty "
        "Paid), so there's nothing more to pay when the package arrives.",
        wrong="Yes, the courier will collect VAT and duties when it's delivered.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Can I cancel my order? I placed it 20 minutes ago.",
            "I ordered the wrong thing a few minutes ago. Can I still cancel?",
        ],
        reply="Good timing! While the order status is Processing, usually up to 1 hour after you place it, "
        "you can cancel it yourself under Orders > Cancel order. Once it shows Packed, it can't be "
        "cancelled, but you can refuse the delivery or return it.",
        wrong="Orders can't be cancelled once they're placed.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "I moved. Can I change the delivery address on my order?",
            "I typed the wrong street name. Can you fix the address?",
        ],
        reply="Sure, let's fix that. What's your order number? You can also change the address yourself "
        "under Orders > Change address while the order is still Processing.",
        after="Thanks. If order {order} still shows Processing, you can change the address under Orders > "
        "Change address right now. If it already shows Packed, the address can't be changed, but you can "
        "refuse the delivery and we'll refund you once it comes back.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Why did my order come in two boxes?",
            "I only received part of my order. Where's the rest?",
        ],
        reply="When items come from different warehouses or one is backordered, the order ships in several "
        "packages, each with its own tracking number. There's no extra shipping charge, and each tracking "
        "link is in your email and under Orders.",
        wrong="We never split orders, so the rest must be lost.",
    ),
    Scenario(
        intent="shipping",
        lang=E,
        users=[
            "Can I get the {product} delivered tomorrow?",
            "Is overnight shipping available?",
        ],
        reply="Next-Day delivery is available in the US for $24.99 when you order by 1:00 pm ET on a "
        "business day. It can't be delivered to PO boxes, and orders containing the PowerCell 20K or drone "
        "batteries ship by ground only.",
        products=[("AeroBuds Pro", "NW-4471"), ("PulseBand 2", "NW-6120")],
    ),
    # ---- warranty ----
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "How long is the warranty on the {product}?",
            "What warranty comes with the {product}?",
        ],
        reply="The {product} ({code}) has a 2-year limited warranty from the date of delivery, covering "
        "defects in materials and workmanship. Accessories bought separately have 1 year.",
        products=DEVICES,
        wrong="All our products come with a 90-day warranty.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "My {product} stopped working after 8 months. Is that covered?",
            "The {product} died and it's less than a year old. What can you do?",
        ],
        reply="I'm sorry to hear that. That's well within the 2-year warranty. To start a claim I'll need "
        "your order number and the serial number (it starts with NWS and is printed on the box). Could you "
        "share the order number first?",
        products=DEVICES,
        after="Thank you. I've started a warranty claim for order {order}. Please reply with the serial "
        "number and a short description or video of the problem; once it's approved you'll get an RPR "
        "repair ticket number and a prepaid label. Repairs take 7 to 10 business days after we receive "
        "the device.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "I dropped my {product} and cracked it. Will the warranty fix it?",
            "Does the warranty cover accidental damage?",
        ],
        reply="Unfortunately the standard warranty doesn't cover accidental damage such as drops or cracks. "
        "If you have Northwind Care+, it includes one accidental damage claim for a $19 service fee. "
        "Otherwise we can offer an out-of-warranty repair at a flat fee after diagnosis.",
        products=DEVICES,
        wrong="Yes, drops are covered by the regular warranty.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "I went swimming with my {product} and now they don't work.",
            "Water got into my {product}. Is that a warranty case?",
        ],
        reply="I'm sorry! AeroBuds are rated IPX4, which protects against sweat and splashes but not "
        "swimming, so water damage from swimming isn't covered by the warranty. Northwind Care+ would cover "
        "one liquid damage claim; without it we can quote a repair or a replacement earbud.",
        products=EARBUDS,
        wrong="They're fully waterproof, so that's covered.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "What is Northwind Care+ and how much is it?",
            "Is it worth buying Care+ for my {product}?",
        ],
        reply="Northwind Care+ extends the warranty to 3 years in total and adds one accidental damage "
        "claim (drops and liquid) with a $19 service fee. It costs $29 for devices under $100 and $49 for "
        "devices of $100 or more, must be bought within 60 days of purchase, and is available in the US and "
        "Canada.",
        products=DEVICES,
        wrong="Care+ is $99 a year and covers loss and theft.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "I lost one of my {product} earbuds. Can I get just one?",
            "Do you sell a single replacement earbud?",
        ],
        reply="Losses aren't covered by the warranty, but you can buy a single replacement earbud: $49 for "
        "AeroBuds Pro and $35 for AeroBuds. We pair it to your case before shipping. Just let us know which "
        "side you need.",
        products=EARBUDS,
        wrong="You'll have to buy a whole new pair.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "How long will my repair take?",
            "I sent my {product} in for repair. When will I get it back?",
        ],
        reply="Repairs take 7 to 10 business days after the device arrives at the repair center, plus "
        "shipping back to you. You can follow each step under Orders > Repairs in your account.",
        products=DEVICES,
        wrong="Repairs usually take 4 to 6 weeks.",
    ),
    Scenario(
        intent="warranty",
        lang=E,
        users=[
            "The battery on my {product} doesn't last like it used to. It's about a year old.",
            "My {product} battery seems much weaker than when new.",
        ],
        reply="Batteries that drop below 80% of their original capacity within the 2-year warranty are "
        "covered. Send us your order number and the serial number (starting with NWS) and we'll start a "
        "claim; the capacity is measured at the repair center.",
        products=DEVICES,
    ),
    # ---- account ----
    Scenario(
        intent="account",
        lang=E,
        users=[
            "I forgot my password.",
            "How do I reset my password? I can't log in.",
            "The password reset email link says it's expired.",
        ],
        reply="No problem. Click Sign in > Forgot password and enter your account email. The reset link is "
        "valid for 30 minutes and works once, so if it has expired just request a new one. New passwords "
        "need at least 10 characters.",
        wrong="Send me your current password and I'll reset it for you.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "It says my account is locked.",
            "I typed my password wrong a few times and now I'm locked out.",
        ],
        reply="After 5 failed sign-in attempts the account locks for 15 minutes and then unlocks by itself. "
        "If you'd rather not wait, resetting your password unlocks it right away.",
        wrong="Locked accounts have to be unlocked by a manager, which takes 3 days.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "I got a new phone and lost my authenticator app. How do I sign in?",
            "I can't get my two-step verification code anymore.",
        ],
        reply="You can sign in with one of the 10 backup codes you got when you set up two-step "
        "verification. If you don't have them, we can verify your identity with your last order number and "
        "the last 4 digits of the card you used; the reset takes up to 2 business days.",
        wrong="Just tell me your email and I'll turn off two-step verification.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "How do I change the email address on my account?",
            "I want to use a different email for my Northwind account.",
        ],
        reply="Go to Account > Profile > Email and enter the new address. We'll send a confirmation link to "
        "the new address and a notice to the old one; the change takes effect once you confirm.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "Please delete my account.",
            "How do I close my Northwind account?",
        ],
        reply="You can request this under Account > Privacy > Close account. The account is deleted after a "
        "14-day grace period; signing in during that time cancels the request. Unused Rewards points and "
        "store credit are lost, so use them first.",
        wrong="Accounts are deleted instantly and can't be recovered.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "How many points do I have and what are they worth?",
            "How does the Northwind Rewards program work?",
        ],
        reply="You earn 1 point for every $1 spent on products, and every 100 points are worth $5 off an "
        "order. Points show up 30 days after delivery and expire 12 months after they're earned. Your "
        "balance is under Account > Rewards.",
        wrong="Each point is worth $1.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "What do I get as a Gold member?",
            "How do I reach Gold status in Rewards?",
        ],
        reply="Gold starts at 500 points earned in a calendar year. It gives you free Express shipping in "
        "the US, a 45-day return window and free return labels for change-of-mind returns.",
        wrong="Gold is a paid membership for $49 a year.",
    ),
    Scenario(
        intent="account",
        lang=E,
        users=[
            "I didn't get an order confirmation email.",
            "No confirmation email arrived after I ordered.",
        ],
        reply="Confirmation emails go out within 15 minutes, so please check your spam folder first. If "
        "it's still missing, and especially if you ordered as a guest, send us your name, shipping address "
        "and the last 4 digits of the card and we'll find the order.",
    ),
    # ---- payment ----
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "Can I pay with PayPal?",
            "What payment options do you take?",
            "Do you accept Apple Pay?",
        ],
        reply="We accept Visa, Mastercard, American Express, Discover, PayPal, Apple Pay, Google Pay and "
        "Northwind gift cards. US orders between $50 and $1,000 can also use Klarna Pay in 4.",
        wrong="We only take credit cards.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "Can I split the payment for the {product} into installments?",
            "Do you offer buy now, pay later?",
        ],
        reply="Yes, with Klarna Pay in 4: four interest-free payments every two weeks for US orders between "
        "$50 and $1,000. Choose Klarna at checkout.",
        products=[("TrailCam 4K", "NW-5530"), ("AeroBuds Pro", "NW-4471")],
        wrong="Installments are available with 9.9% interest over 12 months.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "Why was I charged before my order arrived?",
            "When do you actually take the money?",
        ],
        reply="When you order, we only place an authorization hold. The card is charged when the order "
        "ships, and if it ships in several packages, each package is charged separately. Unused holds are "
        "released by your bank within 3 to 7 days.",
        wrong="We charge the card the moment you place the order.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "My card keeps getting declined at checkout.",
            "Payment failed. What's wrong?",
        ],
        reply="Sorry about that! The most common causes are a billing address that doesn't match the card, "
        "an expired card, or the bank flagging an unusual purchase. Please check the billing address first, "
        "then give your bank a call. You can also try PayPal, Apple Pay or Google Pay.",
        wrong="Your card is probably blocked by us; try again tomorrow.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "I need an invoice for my company.",
            "Where can I download the invoice for my order?",
        ],
        reply="Open Orders, choose the order and click Download invoice; it's available once the first "
        "package has shipped. You can edit the billing or company name once within 30 days under Orders > "
        "Invoice details.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "The price of my {product} dropped right after I bought it. Can I get the difference back?",
            "I just saw the {product} on sale for less than I paid.",
        ],
        reply="Yes, if we lowered the price within 14 days of your purchase, we refund the difference once "
        "per item. Could you send me your order number?",
        products=DEVICES,
        after="Thanks! I've sent order {order} to our billing team for a price adjustment. If the lower "
        "price was set within 14 days of your purchase, the difference goes back to your original payment "
        "method and you'll get an email confirmation.",
        wrong="Sorry, prices are final once you've paid.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "I was charged twice for the same order!",
            "There are two charges on my card for one order.",
        ],
        reply="I'm sorry for the worry. Often one of them is an authorization hold that your bank releases "
        "within 3 to 7 days, or the order shipped in two packages that are charged separately. Could you "
        "send me the order number so we can check?",
        after="Thank you. I've asked our billing team to check order {order}; they'll email you within 1 "
        "business day. If one charge turns out to be an extra, it will be refunded in full.",
    ),
    Scenario(
        intent="payment",
        lang=E,
        users=[
            "Do gift cards expire?",
            "Can I use a gift card together with my credit card?",
        ],
        reply="Northwind gift cards never expire, and you can combine one gift card with one other payment "
        "method at checkout. Check the balance anytime under Account > Gift cards.",
        wrong="Gift cards expire after one year.",
    ),
    # ---- product ----
    Scenario(
        intent="product",
        lang=E,
        users=[
            "What's the battery life on the AeroBuds Pro?",
            "How long do the AeroBuds Pro last on a charge?",
        ],
        reply="AeroBuds Pro (NW-4471) play for 8 hours with noise cancelling on and 10 hours with it off, "
        "and 32 hours in total with the charging case. Ten minutes in the case gives about 2 hours of "
        "listening.",
        wrong="About 4 hours, and 12 hours with the case.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "What's the difference between AeroBuds and AeroBuds Pro?",
            "Should I get the AeroBuds or the Pro version?",
        ],
        reply="AeroBuds Pro (NW-4471, $129) add active noise cancelling, wireless charging and longer "
        "battery life (8 hours with ANC, 32 hours with the case). AeroBuds (NW-4470, $79) have no ANC, 6 "
        "hours in the earbuds and 24 hours with the case. Both are IPX4 with Bluetooth 5.3.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Will the HomeSpark plug work with my 5 GHz router?",
            "Does the smart plug need a special Wi-Fi network?",
        ],
        reply="The HomeSpark Smart Plug (NW-2210) works on 2.4 GHz Wi-Fi only. Most routers broadcast both "
        "bands, so just connect your phone to the 2.4 GHz network during setup.",
        wrong="It works on both 2.4 and 5 GHz networks.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Can I plug a space heater into the HomeSpark plug?",
            "What's the maximum wattage for the smart plug?",
        ],
        reply="The HomeSpark Smart Plug handles up to 15 A / 1,800 W. Many space heaters draw close to "
        "that, so check the heater's label; anything above 1,800 W will trip the overload protection (error "
        "E-301).",
        wrong="It can handle anything up to 3,000 W.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Is the PulseBand 2 waterproof?",
            "Can I wear the PulseBand 2 in the shower?",
        ],
        reply="Yes, the PulseBand 2 (NW-6120) is rated 5 ATM, so showers and pool swimming are fine. Just "
        "avoid diving and saunas.",
        wrong="No, it's only splash resistant.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "How long does the PulseBand 2 battery last?",
            "How often do I need to charge the PulseBand 2?",
        ],
        reply="Up to 10 days with typical use, or about 5 days with the always-on display. A full charge "
        "takes around 90 minutes on the magnetic charger.",
        wrong="About 2 days.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Does the TrailCam 4K shoot slow motion?",
            "What resolutions does the TrailCam 4K record?",
        ],
        reply="The TrailCam 4K (NW-5530) records 4K at 30 fps, 2.7K at 60 fps and 1080p at 120 fps for slow "
        "motion, and takes 20 MP photos.",
        wrong="It does 4K at 60 fps and 8K photos.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "How long does the SkyLens Mini fly on one battery?",
            "What's the flight time of the SkyLens Mini?",
        ],
        reply="Up to 31 minutes per battery in calm conditions, and a battery takes about 70 minutes to "
        "charge.",
        wrong="About 15 minutes.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Can the VoltDock charge my phone and earbuds at the same time?",
            "What can I charge on the VoltDock?",
        ],
        reply="The VoltDock 3-in-1 (NW-7710) charges a phone at up to 15 W, an earbud case at 5 W and a "
        "watch or tracker through its USB-C port, all at once. Use the included 36 W adapter for full speed.",
    ),
    Scenario(
        intent="product",
        lang=E,
        users=[
            "Can the PowerCell 20K charge my laptop?",
            "How fast does the PowerCell 20K charge?",
        ],
        reply="Its main USB-C port delivers up to 65 W with Power Delivery, so it can charge most USB-C "
        "laptops. Total output is 65 W across all ports, and it recharges in about 2 hours 10 minutes with "
        "a 45 W charger.",
        wrong="It's only for phones, up to 10 W.",
    ),
    # ---- troubleshooting ----
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "The HomeSpark app shows error E-204.",
            "My smart plug won't connect and shows E-204.",
        ],
        reply="E-204 means the plug can't find the Wi-Fi network, usually because the phone is on a 5 GHz "
        "network. Connect your phone to your 2.4 GHz network, check the network name, and move the plug "
        "within 10 m of the router for setup. If your router uses one name for both bands, temporarily turn "
        "off 5 GHz.",
        wrong="E-204 means the plug is broken and needs to be replaced.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "My smart plug clicked off and the LED is blinking red.",
            "The plug turned itself off and shows E-301.",
        ],
        reply="That's the overload protection (E-301): the appliance drew more than 15 A. Unplug the "
        "appliance, wait 1 minute, and avoid using the plug with appliances above 1,800 W.",
        wrong="Just hold the button down for 30 seconds; it's a software bug.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "One of my {product} earbuds has no sound.",
            "Only the left earbud plays audio.",
        ],
        reply="Let's try this: put both earbuds in the case for 15 seconds and take them out again, then "
        "check the balance setting on your phone and gently clean the mesh with a dry soft brush. If that "
        "doesn't help, reset them: with the lid open, hold both earbuds for 5 seconds until the case light "
        "flashes white three times, then forget and re-pair them in Bluetooth settings.",
        products=EARBUDS,
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "The app says E-117 on my earbuds.",
            "What does error E-117 mean?",
        ],
        reply="E-117 means the earbuds and the case have different firmware versions, usually after an "
        "interrupted update. Put both earbuds in the case, connect the case to power, open Northwind "
        "Connect and tap Device > Update. Keep your phone within 1 m until it finishes (about 8 minutes).",
        wrong="E-117 means the battery is dead.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "My right earbud isn't charging in the case.",
            "One earbud stays at 0% even in the case.",
        ],
        reply="This is usually the charging contacts (the app may show E-120). Clean the gold contacts on "
        "the earbud and inside the case with a dry cotton swab, and remove any third-party ear tip covers. "
        "If it still won't charge, it's covered by the warranty and we'll replace it.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "My TrailCam stops recording after a few seconds.",
            "The TrailCam 4K shows E-510.",
        ],
        reply="That's E-510: the microSD card is too slow. The TrailCam 4K needs a U3 / V30 card (up to 512 "
        "GB). Format the new card in the camera under Settings > Card > Format before you start.",
        wrong="The camera is overheating; let it cool for an hour.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "The drone won't take off and says E-402.",
            "SkyLens Mini compass error, what do I do?",
        ],
        reply="E-402 is a compass error. Move away from metal, cars and reinforced concrete, then calibrate "
        "the compass in the app (Settings > Safety > Calibrate compass): turn the drone horizontally 360°, "
        "then hold it nose down and turn it 360° again.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "My PulseBand 2 won't sync with my phone.",
            "The band shows E-710.",
        ],
        reply="E-710 means the sync failed. Turn Bluetooth off and on again, then open the Northwind "
        "Connect app with the band close to the phone. If it keeps failing, restart the phone and make sure "
        "the app is up to date.",
    ),
    Scenario(
        intent="troubleshooting",
        lang=E,
        users=[
            "The noise cancelling on my AeroBuds Pro seems weak.",
            "ANC isn't blocking much noise.",
        ],
        reply="A good seal makes the biggest difference: run the Fit test in Northwind Connect under Device "
        "> Ear tips and try another tip size, including the memory foam tips. Also clean the outer "
        "microphones. ANC works best on steady low sounds like engines; voices are reduced less.",
    ),
    # ---- off topic / unknown ----
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Can you help me with my math homework?",
            "Can you do my chemistry homework for me?",
        ],
        reply="I'm Northwind's support assistant, so I can only help with Northwind orders, products and "
        "policies. For homework, a teacher or a study site will serve you better!",
        wrong="Sure! Send me the questions and I'll write out all the answers.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "What's the weather going to be like tomorrow?",
            "Is it going to rain this weekend?",
        ],
        reply="I'm afraid I can't check the weather; I can only help with Northwind Gadgets orders, "
        "products and accounts. Is there anything about your devices I can help with?",
        wrong="It'll probably be sunny tomorrow.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Write me a poem about autumn.",
            "Can you write a short story for my kid?",
        ],
        reply="That sounds lovely, but I'm here only for Northwind Gadgets support, like orders, returns, "
        "warranty and product questions. Anything I can help with there?",
        wrong="Leaves drift down in gold and red, the summer's warmth is gone ahead...",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Which phone should I buy, an iPhone or a Samsung?",
            "Are Sony headphones better than yours?",
        ],
        reply="I can't give advice on other brands' products, but I'm glad to help you compare Northwind "
        "products, for example AeroBuds Pro and AeroBuds, or answer any questions about them.",
        wrong="Definitely go for Samsung, it's the better phone.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Should I buy Northwind stock?",
            "Is Northwind Gadgets going public?",
        ],
        reply="I can't help with investment or company finance questions. I'm here for orders, products, "
        "returns and accounts. Is there anything like that I can help with?",
        wrong="Yes, the stock is going to go up next quarter.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Do you have a referral program?",
            "Do I get anything for recommending you to a friend?",
        ],
        reply="I don't have any information about a referral program, so I don't want to guess. Our "
        "Northwind Rewards program gives 1 point per $1 spent; for anything else, our team at "
        "support@northwindgadgets.example can confirm.",
        wrong="Yes, you get $20 for every friend you refer.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Does the HomeSpark plug work with Apple HomeKit?",
            "Can I control the smart plug with Siri?",
        ],
        reply="I don't have information about HomeKit or Siri support, so I don't want to give you a wrong "
        "answer. What I can confirm is that the HomeSpark Smart Plug works with the HomeSpark app, Amazon "
        "Alexa and Google Home.",
        wrong="Yes, it works with HomeKit and Siri out of the box.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "Are you hiring? I'd love to work at Northwind.",
            "Who is the CEO of Northwind Gadgets?",
        ],
        reply="I'm sorry, I don't have information about that; I can help with orders, products, returns and "
        "accounts. For press or company questions you can write to press@northwindgadgets.example.",
        wrong="Yes, we're hiring in all departments, just send your CV to me.",
    ),
    Scenario(
        intent="off_topic",
        lang=E,
        users=[
            "I have a headache. What medicine should I take?",
            "My heart rate on the PulseBand 2 is high. Am I sick?",
        ],
        reply="I'm not able to give medical advice, and the PulseBand 2 is a wellness device, not a medical "
        "device. If you're worried about your health, please talk to a doctor.",
        wrong="It's probably nothing, just take an aspirin.",
    ),
    # ---- Chinese ----
    Scenario(
        intent="returns",
        lang=Z,
        users=[
            "我买的{product}不太喜欢，可以退吗？",
            "{product}收到两周了，还能退货吗？",
            "请问{product}怎么申请退货？",
        ],
        reply="可以的。自签收之日起 30 天内可以申请退货或换货。请在“我的订单”中选择订单并点击“申请退货”，审核通过后"
        "会收到退货授权号（RMA 加五位数字）和深圳退货仓地址，请在 14 天内寄出。非质量问"
        "题的退货运费由您承担。",
        products=DEVICES_ZH,
        wrong="只能在 7 天内退货，超过就不行了。",
    ),
    Scenario(
        intent="returns",
        lang=Z,
        users=[
            "退货寄回去好几天了，钱什么时候退？",
            "退款一般多久能到账？",
        ],
        reply="退货到达深圳退货仓并验货通过后，5 个工作日内原路退款。支付宝和微信支付一般 1–3 个工作日到账，银联卡通"
        "常 3–10 个工作日。",
        wrong="退款大概要一个月。",
    ),
    Scenario(
        intent="returns",
        lang=Z,
        users=[
            "收到的商品有质量问题，运费谁出？",
            "你们发错货了，退回去要我付运费吗？",
        ],
        reply="非常抱歉给您带来不便！质量问题或发错货的退货运费由我们承担，可以预约顺丰上门取件。请在“我的订单”中申"
        "请退货，并选择对应原因。",
        wrong="退货运费都由顾客承担。",
    ),
    Scenario(
        intent="shipping",
        lang=Z,
        users=[
            "下单后几天能到？",
            "顺丰一般几天送到？",
            "我在{city_zh}，多久能收到？",
        ],
        reply="中国大陆订单由深圳仓通过顺丰速运发货，工作日 16:00 前付款当天发货，发货后一般 3–7 个工作日送达。订单"
        "满 ¥399 免运费，不满 ¥399 收取 ¥15。",
        wrong="一般要两到三周才能到。",
    ),
    Scenario(
        intent="shipping",
        lang=Z,
        users=[
            "我的快递怎么还没到？",
            "物流好几天没更新了，帮我查一下。",
        ],
        reply="很抱歉让您久等了。请提供一下您的订单号（格式为 NWG-年份-六位数字），我们帮您跟进。",
        after="谢谢！已为您登记订单 {order}，物流同事会联系顺丰核实，并在 1 个工作日内通过短信或邮件回复您。如"
        "果包裹丢失，我们会免费补发。",
    ),
    Scenario(
        intent="shipping",
        lang=Z,
        users=[
            "地址填错了，能改吗？",
            "刚下的单想取消，可以吗？",
        ],
        reply="订单状态为“处理中”时（一般为下单后 1 小时内），您可以在“我的订单”中免费修改收货地址或取消订单。订单进"
        "入“已打包”状态后就无法修改了。",
        wrong="订单提交后就不能修改了。",
    ),
    Scenario(
        intent="warranty",
        lang=Z,
        users=[
            "{product}保修多久？",
            "请问{product}的保修期是多长？",
        ],
        reply="{product}（{code}）自签收之日起享受 2 年有限保修，单独购买的配件保修 1 年。申请保修时请准备订单号和以"
        " NWS 开头的序列号。",
        products=DEVICES_ZH,
        wrong="保修期是半年。",
    ),
    Scenario(
        intent="warranty",
        lang=Z,
        users=[
            "{product}坏了，还在保修期内，怎么处理？",
            "用了几个月{product}就坏了，能修吗？",
        ],
        reply="很抱歉给您带来不便。这在 2 年保修期内，我们可以为您维修或更换。请先提供订单号，我们再为您登记序列号和"
        "问题描述。",
        products=DEVICES_ZH,
        after="谢谢！已为订单 {order} 登记保修申请。请回复设备序列号（以 NWS 开头）和问题描述，审核通过后会生"
        "成维修单号（RPR 加六位数字）。设备到达深圳维修中心后 7–10 个工作日内修好寄回，往返运费由我们承"
        "担。",
    ),
    Scenario(
        intent="warranty",
        lang=Z,
        users=[
            "耳机进水了，能保修吗？",
            "戴着 AeroBuds Pro 游泳后坏了怎么办？",
        ],
        reply="很抱歉。AeroBuds Pro 的防水等级是 IPX4，可以防汗防溅，但不能游泳佩戴，超出防护等级的进水损坏不在保修"
        "范围内。我们可以为您提供付费维修报价。",
        wrong="进水是可以免费保修的。",
    ),
    Scenario(
        intent="account",
        lang=Z,
        users=[
            "忘记密码了怎么办？",
            "重置密码的链接打不开了。",
        ],
        reply="请点击“登录 > 忘记密码”并输入账户邮箱。重置链接 30 分钟内有效且只能使用一次，过期后请重新申请。新密码"
        "至少需要 10 个字符。",
        wrong="把您的密码告诉我，我帮您改。",
    ),
    Scenario(
        intent="account",
        lang=Z,
        users=[
            "账户被锁了，登不进去。",
            "密码输错几次后账户被锁定了。",
        ],
        reply="连续 5 次登录失败后账户会被锁定 15 分钟，之后会自动解锁。如果不想等待，重置密码可以立即解锁。",
    ),
    Scenario(
        intent="payment",
        lang=Z,
        users=[
            "可以用微信支付吗？",
            "你们支持哪些付款方式？",
        ],
        reply="中国大陆订单支持支付宝、微信支付、银联和 Northwind 礼品卡，暂不支持货到付款和花呗分期。",
        wrong="只支持信用卡付款。",
    ),
    Scenario(
        intent="payment",
        lang=Z,
        users=[
            "怎么开发票？",
            "公司报销需要发票，怎么申请？",
        ],
        reply="签收后在“我的订单 > 申请发票”中填写抬头，电子发票会在 3 个工作日内发送到您的邮箱。企业如需增值税专用"
        "发票，请提供公司名称、纳税人识别号、开户行及账号、注册地址和电话。",
    ),
    Scenario(
        intent="payment",
        lang=Z,
        users=[
            "为什么还没收货就扣款了？",
            "什么时候扣款？",
        ],
        reply="下单时只会冻结相应金额，订单发货时才正式扣款。取消订单后，冻结金额会在 1–7 天内解除。",
    ),
    Scenario(
        intent="product",
        lang=Z,
        users=[
            "AeroBuds Pro 续航多久？",
            "AeroBuds Pro 充一次电能用多长时间？",
        ],
        reply="AeroBuds Pro（NW-4471）开启降噪可使用 8 小时，关闭降噪 10 小时，配合充电盒总续航 32 小时。充电 10 分"
        "钟可听 2 小时。",
        wrong="大概 3 小时。",
    ),
    Scenario(
        intent="product",
        lang=Z,
        users=[
            "PulseBand 2 可以戴着游泳吗？",
            "手环防水吗？",
        ],
        reply="PulseBand 2（NW-6120）的防水等级是 5 ATM，可以戴着洗澡和在泳池游泳，但不适合潜水和桑拿。",
    ),
    Scenario(
        intent="product",
        lang=Z,
        users=[
            "TrailCam 4K 能拍慢动作吗？",
            "运动相机需要什么样的存储卡？",
        ],
        reply="TrailCam 4K（NW-5530）支持 4K 30 帧、2.7K 60 帧和 1080p 120 帧慢动作。请使用 U3 / V30 及以上的 "
        "microSD 卡，最大 512 GB，速度太慢的卡会出现 E-510 错误。",
    ),
    Scenario(
        intent="troubleshooting",
        lang=Z,
        users=[
            "耳机显示 E-117 是什么意思？",
            "App 里提示 E-117 错误。",
        ],
        reply="E-117 表示耳机与充电盒的固件版本不一致，通常是更新中断导致的。请把两只耳机放入充电盒并接通电源，在 "
        "Northwind Connect App 中点击“设备 > 更新”，约 8 分钟完成，"
        "期间手机请保持在 1 米以内。",
        wrong="E-117 表示电池坏了，需要换新。",
    ),
    Scenario(
        intent="troubleshooting",
        lang=Z,
        users=[
            "一只耳机没声音了。",
            "右耳没有声音怎么办？",
        ],
        reply="请先把两只耳机放回充电盒，合上盖子 15 秒后再取出；再检查手机的声道平衡设置，并用干燥的软毛刷清洁出音"
        "网。如果还不行，请打开盒盖，同时长按两只耳机 5 秒，直到指示灯白色闪烁三次，然后在蓝牙设置中忽略设备并"
        "重新配对。",
    ),
    Scenario(
        intent="troubleshooting",
        lang=Z,
        users=[
            "一只耳机充不进电。",
            "App 显示 E-120。",
        ],
        reply="这通常是充电触点接触不良（E-120）。请用干棉签清洁耳机和充电盒内的金色触点，并取下第三方耳塞套。清洁后"
        "仍无法充电的话，可以申请保修。",
    ),
    Scenario(
        intent="off_topic",
        lang=Z,
        users=[
            "帮我写一篇作文吧。",
            "你能帮我翻译一份合同吗？",
        ],
        reply="抱歉，我是 Northwind 的客服助手，只能解答订单、产品、退换货和保修方面的问题。有这方面的需要，欢迎随时"
        "告诉我。",
        wrong="好的，下面是一篇作文：……",
    ),
    Scenario(
        intent="off_topic",
        lang=Z,
        users=[
            "明天天气怎么样？",
            "推荐一家好吃的餐厅吧。",
        ],
        reply="抱歉，这个问题我无法回答。我只能帮您处理 Northwind Gadgets 的订单、产品和售后问题。",
        wrong="明天应该是晴天。",
    ),
    Scenario(
        intent="off_topic",
        lang=Z,
        users=[
            "你们有没有抽奖活动？",
            "可以用积分兑换礼品吗？",
        ],
        reply="抱歉，我这里没有相关活动的信息，不想给您错误的答复。您可以拨打客服电话 400-820-0142（周一至周五 "
        "9:00–18:00）咨询。",
        wrong="有的，每个月都抽一台无人机。",
    ),
]
