redirect "bob\@example.org";
