"""The corpus' script: the sentences (:data:`SENTENCES`) and the voices that speak them (:data:`SPEAKERS`).

The papers used TIMIT, which cannot be downloaded here; :mod:`vqcore.speech.corpus` has these
sentences spoken by these eSpeak NG voices instead.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SENTENCES", "SFVQ_SENTENCE", "SPEAKERS", "Speaker"]

#: the sentence whose latent trajectory the SFVQ paper plots (TIMIT SA1)
SFVQ_SENTENCE = "She had your dark suit in greasy wash water all year."

#: Sentences written for this project (plus :data:`SFVQ_SENTENCE`). Together they hold every
#: phone group, and every English phone eSpeak has: ``zh`` (measure), ``oy`` (noise), ``aw`` (house),
#: ``th``/``dh``, ``ng``, ``ch``/``jh``, syllabic ``l``, flaps.
SENTENCES: tuple[str, ...] = (
    SFVQ_SENTENCE,
    "The boy enjoyed the noisy toy in the moist soil.",
    "How about a brown cow sitting outside the house?",
    "Nine bright kites flew high above the white island.",
    "They made a great cake for the rainy day in May.",
    "Go slowly over the old stone road to the coast.",
    "A fresh fish jumped through the shallow pool at dawn.",
    "Thick smoke then rose through the thin northern sky.",
    "The measure of pleasure is a vision of beige treasure.",
    "Each child chose cheap cheese at the church market.",
    "George judged the large orange badge with joy.",
    "Ring the bell and sing a long song for the king.",
    "He hid behind the heavy wooden door of his hut.",
    "Zebras zigzag over the frozen hazy fields.",
    "Please put the big bag by the back gate.",
    "We were rather worried about the weather in the north.",
    "My mother never liked the murmur of the summer rain.",
    "Vivid violet flowers grow very fast in the valley.",
    "Little lambs leap along the yellow lane.",
    "Your young uncle usually eats onion soup at noon.",
    "Could you look at the good book that Ruth took?",
    "A thousand yellow birds perched on the wire fence.",
    "Seven clever students taught themselves to swim.",
    "Is this the right way to the airport, or the harbor?",
    "Lunch was pasta with tomato and a cup of warm milk.",
    "The queen quietly asked for extra jam and butter.",
    "Pure water flows under the bridge every morning.",
    "Her purple shirt was hanging near the third door.",
    "Brisk winds pushed the canoe along the rocky shore.",
    "A puppy chewed the edge of the woolen sock.",
    "Thirty thin thieves thought about the theft all Thursday.",
    "The usual casual leisure of the garage was a mirage.",
    "Joyful voices rejoiced as the royal oysters were served.",
    "Cloudy towers loom over the crowded town below.",
    "Keep the kettle on a low heat until the water boils.",
    "Ducks and geese waddled toward the muddy bank of the pond.",
    "The engineer checked the engine twice before the journey.",
    "A bottle of fizzy lemonade cooled in the shade.",
    "Whose shoes are these, and why are they so wet?",
    "Our neighbor painted the fence a pale shade of green.",
    "Bright stars twinkled as the night grew colder.",
    "Shiny shells washed ashore beside the fisherman's shed.",
    "Don't forget to bring an umbrella when it looks like rain.",
    "The hungry lion yawned and rolled over in the tall grass.",
    "Mix the flour and sugar, then add three eggs.",
    "Autumn leaves drifted slowly onto the quiet path.",
    "The children laughed at the funny puppet show.",
    "Fourteen boats sailed past the lighthouse at noon.",
)


@dataclass(frozen=True)
class Speaker:
    """A voice: an eSpeak voice name plus prosody (``pitch`` and ``pitch_range`` 0..100, ``rate`` wpm)."""

    name: str
    voice: str
    gender: str
    pitch: int
    pitch_range: int
    rate: int


#: 12 speakers: eSpeak NG's American English voice with its male and female variants (two speak
#: the New York City variety), each with its own base pitch, intonation range and speaking rate.
SPEAKERS: tuple[Speaker, ...] = (
    Speaker("m01", "en-us+m1", "male", 42, 45, 160),
    Speaker("m02", "en-us+m2", "male", 50, 55, 175),
    Speaker("m03", "en-us+m3", "male", 38, 60, 150),
    Speaker("m04", "en-us+m4", "male", 55, 40, 185),
    Speaker("m05", "en-us+m5", "male", 46, 65, 170),
    Speaker("m06", "en-us-nyc+m6", "male", 52, 50, 190),
    Speaker("f01", "en-us+f1", "female", 50, 60, 165),
    Speaker("f02", "en-us+f2", "female", 56, 50, 175),
    Speaker("f03", "en-us+f3", "female", 45, 70, 155),
    Speaker("f04", "en-us+f4", "female", 60, 45, 185),
    Speaker("f05", "en-us+f5", "female", 48, 55, 170),
    Speaker("f06", "en-us-nyc+f3", "female", 53, 65, 180),
)
