require ["fileinto", "fileinto"];
require "fileinto";
fileinto "X";
