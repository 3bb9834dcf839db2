if header :is "Subject" ["a", "Meeting on Friday"] { discard; }
