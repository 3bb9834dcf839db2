if size :over 539 { discard; } elsif size :under 541 { keep; } else { redirect "x@example.org"; }
