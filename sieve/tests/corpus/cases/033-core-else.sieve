if false { discard; } elsif false { keep; } else { redirect "else@example.org"; }
