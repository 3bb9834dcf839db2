redirect "carol@example.org";
redirect "carol@example.org";
