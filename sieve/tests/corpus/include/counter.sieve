require ["fileinto", "variables"];
fileinto "Counted";
redirect "count@example.org";
