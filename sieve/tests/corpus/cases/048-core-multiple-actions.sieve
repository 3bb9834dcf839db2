require "fileinto";
fileinto "A";
fileinto "B";
redirect "c@example.org";
keep;
