"""Class names of the label sets emorec knows, and the one vocabulary emorec's outputs use.

Each model card keeps its data set's own names (FER+ says ``happiness``, FER2013 says ``happy``); results
(``Face.emotion``, ``scores``, CSV columns, the web page, ``EmotionClassifier.classes``) use the common
names below, so a program reading them works the same with every model.
"""

from __future__ import annotations

FER2013_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

# FER+ column order in fer2013new.csv (the 8 emotions; 'unknown' and 'NF' are not classes).
FERPLUS_CLASSES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]

# The common vocabulary: FER2013's names, plus FER+'s contempt.
COMMON_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]

# Other spellings of the same emotions (FER+'s nouns, adjectives other data sets use); case is ignored.
SYNONYMS = {
    "anger": "angry", "happiness": "happy", "sadness": "sad",
    "surprised": "surprise", "fearful": "fear", "disgusted": "disgust",
}


def common_name(name: str) -> str:
    """The common name of one class (``'happiness'`` -> ``'happy'``); unknown names are kept as they are."""
    key = str(name).strip().lower()
    key = SYNONYMS.get(key, key)
    return key if key in COMMON_CLASSES else str(name)


def common_names(classes) -> list[str]:
    """Common names of a model's or data set's classes, in the same order. Two classes that would get the
    same common name keep their own names, so the list stays one name per class."""
    out = [common_name(c) for c in classes]
    if len(set(out)) != len(out):
        return [str(c) for c in classes]
    return out
