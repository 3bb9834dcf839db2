redirect "carol@example.org";
keep;
