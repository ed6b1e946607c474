"""Class names of the label sets emorec knows."""

FER2013_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

# FER+ column order in fer2013new.csv (the 8 emotions; 'unknown' and 'NF' are not classes).
FERPLUS_CLASSES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
