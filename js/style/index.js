import './base.css';
import './catalog.css';
import './imageviewer.css';
import './sky.css';
