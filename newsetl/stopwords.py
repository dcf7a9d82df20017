"""English stop words: function words that are neither keywords nor the first word of a dateline's place."""

# English function words (articles, pronouns, auxiliaries, prepositions, conjunctions, common adverbs).
_STOP_TEXT = """a about above after again against all almost alone along already also although always am among an and
    another any anyhow anyone anything anyway anywhere are around as at back be became because become becomes
    been before beforehand behind being below beside besides between beyond both but by can cannot could did do
    does doing done down due during each either else elsewhere enough even ever every everyone everything
    everywhere few first for former formerly from further get give go had has have having he hence her here
    hereafter hereby herein hers herself him himself his how however i if in indeed into is it its itself just
    last latter least less made make many may me meanwhile might mine more moreover most mostly much must my
    myself namely neither never nevertheless next no nobody none noone nor not nothing now nowhere of off often
    on once one only onto or other others otherwise our ours ourselves out over own per perhaps please put
    quite rather re really regarding same say see seem seemed seems several she should show side since so some
    somehow someone something sometime sometimes somewhere still such take than that the their theirs them
    themselves then thence there thereafter thereby therefore therein thereupon these they third this those
    though through throughout thru thus to together too top toward towards under unless until up upon us used
    using various very via was we well were what whatever when whence whenever where whereafter whereas whereby
    wherein whereupon wherever whether which while whither who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
