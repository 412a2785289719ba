import './base.css';
import './catalog.css';
