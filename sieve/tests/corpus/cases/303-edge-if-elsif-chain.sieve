if false { keep; } elsif false { keep; } elsif true { discard; } elsif true { keep; } else { keep; }
