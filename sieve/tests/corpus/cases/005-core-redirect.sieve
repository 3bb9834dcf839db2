redirect "carol@example.org";
