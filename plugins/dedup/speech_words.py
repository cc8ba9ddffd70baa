"""The words :mod:`~docstage_plugins.dedup.speakers` reads attributions by: speech verbs
(English, and the common ones in German, French, Spanish, Italian, Portuguese and Dutch),
"according to", pronouns, determiners, titles, and the words that end a speaker's phrase.

Lower-case, compared with a word as written (a verb) or lower-cased (the rest).
"""

from __future__ import annotations


def _words(words: str) -> frozenset[str]:
    return frozenset(words.split())


VERBS = _words(
    """say says said saying tell tells told telling add adds added adding ask asks asked
    write writes wrote claim claims claimed claiming warn warns warned warning argue argues
    argued insist insists insisted note notes noted explain explains explained state states
    stated declare declares declared continue continues continued reply replies replied
    respond responds responded tweet tweets tweeted announce announced acknowledge
    acknowledged admit admits admitted suggest suggests suggested predict predicted vow vowed
    promise promised recall recalled stress stressed emphasize emphasized emphasise
    emphasised complain complained joke joked quip quipped concede conceded caution cautioned
    observe observed remark remarked assert asserted contend contended maintain maintained
    charge charged allege alleged shout shouted yell yelled exclaim exclaimed repeat
    repeated reiterate reiterated confirm confirmed deny denied call calls called calling
    describe describes described describing urge urged pledge pledged conclude concluded
    counter countered retort retorted boast boasted brag bragged lament lamented testify
    testified liken likened dub dubbed label labeled labelled brand branded insisting
    recounted recounts wonders wondered asserts posted chanted read reads report reports
    reported accuse accuses accused accusing cite cites cited mock mocks mocked criticize
    criticized criticizes criticise criticised blast blasted condemn condemned scold
    scolded laud lauded praise praised dismiss dismissed demand demanded sing sings sang
    chimed outline outlined questioned questioning promising stressing predicting warning
    decried derided slammed hailed tweeting writing
    sagte sagt sagten erklärte erklärt betonte betont meinte meint fügte ergänzte
    déclaré dit affirmé ajouté expliqué souligné estimé déclare affirme ajoute explique
    souligne estime dijo afirmó aseguró señaló añadió explicó declaró indicó
    detto dichiarato affermato aggiunto spiegato disse afirmou zei zegt"""
)
#: Words that say "according to" (the speaker follows them).
ACCORDING = frozenset({"selon", "según", "secondo", "laut", "segundo", "aldus"})
AUX = _words(
    """has had have was is were are would will did does also later then once again just
    further previously recently reportedly simply flatly repeatedly quickly always often
    never a ha hat hatte"""
)
PRONOUNS = frozenset({"he", "she", "they", "i", "we", "it", "er", "sie", "il", "elle", "él"})
DETERMINERS = _words(
    """the a an another one his her their its our my these those some many
    several two three four other both each le la les un une el los las der die das ein
    eine"""
)
#: Words that end a noun phrase (met walking away from the verb).
BOUNDARY = (
    _words(
        """that and but or which who whom whose when where if as because while so than then
    in on at to for with from by about after before during into over under since until
    against between through without not no there here what how why this it"""
    )
    | VERBS
)
TITLES = _words(
    """president prime minister secretary senator sen. rep. representative gov. governor
    mr. mrs. ms. dr. chancellor king queen pope ceo chairman chairwoman director judge
    general gen. mayor spokesman spokeswoman spokesperson leader candidate nominee former
    sir lady lord chief officer minister. professor prof. ambassador democratic republican
    house speaker press bürgermeister bürgermeisterin präsident präsidentin kanzler
    kanzlerin ministerin président présidente ministre maire presidente ministro alcalde
    alcaldesa"""
)
OPENERS = _words("meanwhile however but and later still also now then earlier instead yet so")
#: A time between a speaker and the speech verb (``Lindqvist on Tuesday said``), and the
#: words that may lead it.
WHEN = _words("monday tuesday wednesday thursday friday saturday sunday today yesterday tonight")
WHEN_LEADS = _words("on late early last")
#: Words after a speech verb that do not name its speaker (``said Friday``).
NOT_SPEAKERS = _words(
    """monday tuesday wednesday thursday friday saturday sunday today yesterday tonight
    reporters journalists"""
)
ABBREVIATIONS = _words("mr mrs ms dr sen rep gov gen lt col sgt st jr sr prof pres")

NOT_NAMES = _words(
    """The A An In On At For But And He She They It We I This That His Her Their Its
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April
    May June July August September October November December"""
)
