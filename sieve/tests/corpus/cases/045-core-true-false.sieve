if false { discard; }
if true { redirect "t@example.org"; }
